// File-system operations (REFERENCE §6.6 OpenMode, §6.7 file ops, §5.4 stat/listdir/mkdir).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "agent_harness.hpp"

namespace provium::agent_test {
namespace {

constexpr std::int64_t kRead = 1, kWrite = 2, kCreate = 4, kTruncate = 8, kAppend = 16,
                       kExclusive = 32;

class AgentFsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(agent_.ok()); }

  Reply Op(const std::string& kind, Value payload) {
    auto r = agent_.Call(kind, std::move(payload));
    EXPECT_FALSE(r.timed_out) << kind;
    return r;
  }
  // An op expected to succeed with `<kind>_result` ok; returns its value.
  Value Ok(const std::string& kind, Value payload) {
    auto r = Op(kind, std::move(payload));
    EXPECT_EQ(r.kind(), kind + "_result") << Describe(r.env);
    EXPECT_TRUE(IsOk(r.payload())) << kind << ": " << Describe(r.env);
    return ValueOf(r.payload());
  }
  std::int64_t Open(const std::string& path, std::int64_t mode,
                    std::optional<std::int64_t> perm = std::nullopt) {
    Value p = Obj({{"path", Value{path}}, {"mode", Int(mode)}});
    if (perm) p = With(p, "create_perm", Int(*perm));
    return AsInt(Ok("open_file", p));
  }
  static mode_t HostPerm(const std::string& path) {
    struct stat st {};
    ::lstat(path.c_str(), &st);
    return st.st_mode & 07777;
  }

  AgentHarness agent_;
  TempDir dir_;
};

void ExpectAgentError(const Reply& r, const char* kind) {
  EXPECT_EQ(r.kind(), "agent_error") << Describe(r.env);
  EXPECT_EQ(AsStr(Get(r.payload(), "kind")), kind) << Describe(r.env);
}

TEST_F(AgentFsTest, WriteFileReplaceAndReadFile) {
  std::string path = dir_ / "a";
  std::string data("bin\0\xff\n", 6);
  EXPECT_TRUE(Ok("write_file", Obj({{"path", Value{path}}, {"data", Bin(data)}})).is_null());
  EXPECT_EQ(ReadHostFile(path), data);
  EXPECT_EQ(HostPerm(path), 0644u) << "default create_perm is 0o644";
  Value got = Ok("read_file", Obj({{"path", Value{path}}}));
  ASSERT_TRUE(IsBin(Get(got, "data")));
  EXPECT_EQ(AsBin(Get(got, "data")), data);
  Ok("write_file", Obj({{"path", Value{path}}, {"data", Bin("xy")}, {"mode", "replace"}}));
  EXPECT_EQ(ReadHostFile(path), "xy") << "replace must truncate";
}

TEST_F(AgentFsTest, WriteFileAppendExclusiveAndCreatePerm) {
  std::string path = dir_ / "b";
  Ok("write_file", Obj({{"path", Value{path}}, {"data", Bin("one")}, {"mode", "append"}}));
  Ok("write_file", Obj({{"path", Value{path}}, {"data", Bin("two")}, {"mode", "append"}}));
  EXPECT_EQ(ReadHostFile(path), "onetwo");
  auto r =
      Op("write_file", Obj({{"path", Value{path}}, {"data", Bin("x")}, {"mode", "exclusive"}}));
  EXPECT_EQ(r.kind(), "write_file_result");
  EXPECT_EQ(ErrnoOf(r.payload()), EEXIST) << Describe(r.env);
  EXPECT_EQ(ReadHostFile(path), "onetwo");
  std::string fresh = dir_ / "fresh";
  Ok("write_file", Obj({{"path", Value{fresh}},
                        {"data", Bin("z")},
                        {"mode", "exclusive"},
                        {"create_perm", Int(0640)}}));
  EXPECT_EQ(ReadHostFile(fresh), "z");
  EXPECT_EQ(HostPerm(fresh), 0640u);
}

TEST_F(AgentFsTest, WriteFileBadModeIsBadRequest) {
  ExpectAgentError(
      Op("write_file", Obj({{"path", Value{dir_ / "c"}}, {"data", Bin("")}, {"mode", "sideways"}})),
      "bad_request");
}

TEST_F(AgentFsTest, ReadFileMissingIsEnoent) {
  auto r = Op("read_file", Obj({{"path", Value{dir_ / "missing"}}}));
  EXPECT_EQ(r.kind(), "read_file_result");
  EXPECT_EQ(ErrnoOf(r.payload()), ENOENT) << Describe(r.env);
  EXPECT_NE(Get(ValueOf(r.payload()), "message").as_string(), nullptr);
}

TEST_F(AgentFsTest, OpenFileReadWriteSeekClose) {
  std::string path = dir_ / "f";
  std::int64_t h = Open(path, kRead | kWrite | kCreate, 0600);
  ASSERT_NE(h, INT64_MIN);
  EXPECT_EQ(HostPerm(path), 0600u);
  Value w = Ok("write", Obj({{"handle", Int(h)}, {"data", Bin("hello world")}}));
  EXPECT_EQ(AsInt(Get(w, "written")), 11);
  EXPECT_EQ(AsInt(Ok("seek", Obj({{"handle", Int(h)}, {"offset", Int(6)}, {"whence", "set"}}))), 6);
  Value r = Ok("read", Obj({{"handle", Int(h)}, {"max_bytes", Int(3)}}));
  ASSERT_TRUE(IsBin(Get(r, "data")));
  EXPECT_EQ(AsBin(Get(r, "data")), "wor");
  EXPECT_EQ(AsInt(Ok("seek", Obj({{"handle", Int(h)}, {"offset", Int(0)}, {"whence", "cur"}}))), 9);
  EXPECT_EQ(AsInt(Ok("seek", Obj({{"handle", Int(h)}, {"offset", Int(-5)}, {"whence", "end"}}))),
            6);
  EXPECT_EQ(AsBin(Get(Ok("read", Obj({{"handle", Int(h)}, {"max_bytes", Int(100)}})), "data")),
            "world");
  EXPECT_EQ(AsBin(Get(Ok("read", Obj({{"handle", Int(h)}, {"max_bytes", Int(100)}})), "data")), "")
      << "an empty read means EOF";
  EXPECT_TRUE(Ok("close", Obj({{"handle", Int(h)}})).is_null());
  ExpectAgentError(Op("read", Obj({{"handle", Int(h)}, {"max_bytes", Int(1)}})), "unknown_handle");
  ExpectAgentError(Op("close", Obj({{"handle", Int(h)}})), "unknown_handle");
}

TEST_F(AgentFsTest, OpenFileTruncateAppendAndExclusive) {
  std::string path = dir_ / "g";
  WriteHostFile(path, "old contents");
  std::int64_t t = Open(path, kWrite | kTruncate);
  Ok("write", Obj({{"handle", Int(t)}, {"data", Bin("new")}}));
  Ok("close", Obj({{"handle", Int(t)}}));
  EXPECT_EQ(ReadHostFile(path), "new");
  std::int64_t a = Open(path, kAppend);
  Ok("seek", Obj({{"handle", Int(a)}, {"offset", Int(0)}, {"whence", "set"}}));
  Ok("write", Obj({{"handle", Int(a)}, {"data", Bin("+more")}}));
  Ok("close", Obj({{"handle", Int(a)}}));
  EXPECT_EQ(ReadHostFile(path), "new+more");
  auto r =
      Op("open_file", Obj({{"path", Value{path}}, {"mode", Int(kWrite | kCreate | kExclusive)}}));
  EXPECT_EQ(r.kind(), "open_file_result");
  EXPECT_EQ(ErrnoOf(r.payload()), EEXIST) << Describe(r.env);
  auto m = Op("open_file", Obj({{"path", Value{dir_ / "nope"}}, {"mode", Int(kRead)}}));
  EXPECT_EQ(ErrnoOf(m.payload()), ENOENT) << Describe(m.env);
}

TEST_F(AgentFsTest, OpenFileUnknownModeBitIsBadRequest) {
  ExpectAgentError(Op("open_file", Obj({{"path", Value{dir_ / "h"}}, {"mode", Int(kRead | 64)}})),
                   "bad_request");
  ExpectAgentError(
      Op("open_file", Obj({{"path", Value{dir_ / "h"}}, {"mode", Int(kRead | (1ll << 31))}})),
      "bad_request");
  EXPECT_EQ(::access((dir_ / "h").c_str(), F_OK), -1);
}

TEST_F(AgentFsTest, UnknownFileHandleIsUnknownHandle) {
  ExpectAgentError(Op("read", Obj({{"handle", Int(424242)}, {"max_bytes", Int(1)}})),
                   "unknown_handle");
  ExpectAgentError(Op("write", Obj({{"handle", Int(424242)}, {"data", Bin("x")}})),
                   "unknown_handle");
  ExpectAgentError(
      Op("seek", Obj({{"handle", Int(424242)}, {"offset", Int(0)}, {"whence", "set"}})),
      "unknown_handle");
  ExpectAgentError(Op("close", Obj({{"handle", Int(424242)}})), "unknown_handle");
  ExpectAgentError(Op("fd_stream", Obj({{"handle", Int(424242)}})), "unknown_handle");
  ExpectAgentError(Op("ioctl", Obj({{"handle", Int(424242)}, {"cmd", Int(0)}, {"data", Bin("")}})),
                   "unknown_handle");
}

TEST_F(AgentFsTest, SeekBadWhenceIsBadRequest) {
  std::int64_t h = Open(dir_ / "s", kWrite | kCreate);
  ExpectAgentError(Op("seek", Obj({{"handle", Int(h)}, {"offset", Int(0)}, {"whence", "middle"}})),
                   "bad_request");
  Ok("close", Obj({{"handle", Int(h)}}));
}

// §6.5: requests naming the same handle execute in arrival order.
TEST_F(AgentFsTest, PipelinedWritesOnOneHandleKeepArrivalOrder) {
  std::string path = dir_ / "order";
  std::int64_t h = Open(path, kWrite | kCreate);
  std::vector<std::int64_t> ids;
  std::string expected;
  for (int i = 0; i < 200; ++i) {
    std::string piece = std::to_string(i) + ",";
    expected += piece;
    ids.push_back(agent_.Request("write", Obj({{"handle", Int(h)}, {"data", Bin(piece)}})));
  }
  for (auto id : ids) EXPECT_TRUE(IsOk(agent_.Await(id).payload()));
  Ok("close", Obj({{"handle", Int(h)}}));
  EXPECT_EQ(ReadHostFile(path), expected) << "writes on one handle ran out of arrival order";
}

TEST_F(AgentFsTest, StatFileDirSymlinkFifo) {
  std::string file = dir_ / "file", link = dir_ / "link", fifo = dir_ / "fifo";
  WriteHostFile(file, "12345");
  ::chmod(file.c_str(), 0640);
  ASSERT_EQ(::symlink(file.c_str(), link.c_str()), 0);
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  Value st = Ok("stat", Obj({{"path", Value{file}}}));
  EXPECT_EQ(AsInt(Get(st, "size")), 5);
  EXPECT_EQ(AsStr(Get(st, "entry_type")), "file");
  EXPECT_EQ(AsInt(Get(st, "perm")), 0640);
  EXPECT_LT(std::llabs(AsInt(Get(st, "mtime_ns")) - now_ns), 60'000'000'000ll);
  Value followed = Ok("stat", Obj({{"path", Value{link}}}));
  EXPECT_EQ(AsStr(Get(followed, "entry_type")), "file") << "follow_symlinks defaults to true";
  EXPECT_EQ(AsInt(Get(followed, "size")), 5);
  Value nofollow = Ok("stat", Obj({{"path", Value{link}}, {"follow_symlinks", Value{false}}}));
  EXPECT_EQ(AsStr(Get(nofollow, "entry_type")), "symlink");
  EXPECT_EQ(AsInt(Get(nofollow, "size")), static_cast<std::int64_t>(file.size()));
  EXPECT_EQ(AsStr(Get(Ok("stat", Obj({{"path", Value{dir_.path()}}})), "entry_type")), "directory");
  EXPECT_EQ(AsStr(Get(Ok("stat", Obj({{"path", Value{fifo}}})), "entry_type")), "fifo");
  EXPECT_EQ(AsStr(Get(Ok("stat", Obj({{"path", "/dev/null"}})), "entry_type")), "char_device");
  auto missing = Op("stat", Obj({{"path", Value{dir_ / "missing"}}}));
  EXPECT_EQ(ErrnoOf(missing.payload()), ENOENT) << Describe(missing.env);
}

TEST_F(AgentFsTest, ListdirIsSortedWithoutDotEntries) {
  WriteHostFile(dir_ / "b", "");
  WriteHostFile(dir_ / "a", "");
  ::mkdir((dir_ / "c").c_str(), 0755);
  ::symlink("a", (dir_ / "d").c_str());
  Value list = Ok("listdir", Obj({{"path", Value{dir_.path()}}}));
  auto arr = list.as_array();
  ASSERT_NE(arr, nullptr) << Describe(list);
  std::vector<std::pair<std::string, std::string>> got;
  for (auto& e : *arr) got.emplace_back(AsStr(Get(e, "name")), AsStr(Get(e, "entry_type")));
  std::vector<std::pair<std::string, std::string>> want = {
      {"a", "file"}, {"b", "file"}, {"c", "directory"}, {"d", "symlink"}};
  EXPECT_EQ(got, want);
  auto missing = Op("listdir", Obj({{"path", Value{dir_ / "nope"}}}));
  EXPECT_EQ(ErrnoOf(missing.payload()), ENOENT);
}

TEST_F(AgentFsTest, MkdirPlainParentsAndPerm) {
  std::string plain = dir_ / "plain";
  Ok("mkdir", Obj({{"path", Value{plain}}, {"parents", Value{false}}}));
  EXPECT_EQ(HostPerm(plain), 0755u) << "default perm is 0o755";
  std::string priv = dir_ / "priv";
  Ok("mkdir", Obj({{"path", Value{priv}}, {"parents", Value{false}}, {"create_perm", Int(0700)}}));
  EXPECT_EQ(HostPerm(priv), 0700u);
  auto exists = Op("mkdir", Obj({{"path", Value{plain}}, {"parents", Value{false}}}));
  EXPECT_EQ(ErrnoOf(exists.payload()), EEXIST) << Describe(exists.env);
  auto noparent = Op("mkdir", Obj({{"path", Value{dir_ / "x/y/z"}}, {"parents", Value{false}}}));
  EXPECT_EQ(ErrnoOf(noparent.payload()), ENOENT) << Describe(noparent.env);
  Ok("mkdir",
     Obj({{"path", Value{dir_ / "x/y/z"}}, {"parents", Value{true}}, {"create_perm", Int(0750)}}));
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "x/y/z").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  Ok("mkdir", Obj({{"path", Value{dir_ / "x/y/z"}}, {"parents", Value{true}}}));  // like mkdir -p
  WriteHostFile(dir_ / "file", "");
  auto notdir = Op("mkdir", Obj({{"path", Value{dir_ / "file"}}, {"parents", Value{true}}}));
  EXPECT_EQ(AsStr(Get(notdir.payload(), "outcome")), "err") << Describe(notdir.env);
}

TEST_F(AgentFsTest, UnlinkFileAndEmptyDir) {
  WriteHostFile(dir_ / "f", "x");
  ::mkdir((dir_ / "empty").c_str(), 0755);
  ::mkdir((dir_ / "full").c_str(), 0755);
  WriteHostFile(dir_ / "full/inner", "x");
  Ok("unlink", Obj({{"path", Value{dir_ / "f"}}}));
  EXPECT_EQ(::access((dir_ / "f").c_str(), F_OK), -1);
  Ok("unlink", Obj({{"path", Value{dir_ / "empty"}}}));
  EXPECT_EQ(::access((dir_ / "empty").c_str(), F_OK), -1);
  auto full = Op("unlink", Obj({{"path", Value{dir_ / "full"}}}));
  EXPECT_EQ(AsStr(Get(full.payload(), "outcome")), "err");
  EXPECT_EQ(::access((dir_ / "full/inner").c_str(), F_OK), 0);
  auto missing = Op("unlink", Obj({{"path", Value{dir_ / "missing"}}}));
  EXPECT_EQ(ErrnoOf(missing.payload()), ENOENT) << Describe(missing.env);
}

TEST_F(AgentFsTest, Rename) {
  WriteHostFile(dir_ / "from", "content");
  Ok("rename", Obj({{"from", Value{dir_ / "from"}}, {"to", Value{dir_ / "to"}}}));
  EXPECT_EQ(::access((dir_ / "from").c_str(), F_OK), -1);
  EXPECT_EQ(ReadHostFile(dir_ / "to"), "content");
  auto missing = Op("rename", Obj({{"from", Value{dir_ / "gone"}}, {"to", Value{dir_ / "x"}}}));
  EXPECT_EQ(ErrnoOf(missing.payload()), ENOENT) << Describe(missing.env);
}

TEST_F(AgentFsTest, HandlesAreNotReused) {
  std::int64_t a = Open(dir_ / "p1", kWrite | kCreate);
  Ok("close", Obj({{"handle", Int(a)}}));
  std::int64_t b = Open(dir_ / "p2", kWrite | kCreate);
  EXPECT_NE(a, b) << "handles must not be reused";
  Ok("close", Obj({{"handle", Int(b)}}));
}

}  // namespace
}  // namespace provium::agent_test
