// util::FileMemo: values remembered by file identity, in memory and across instances (processes)
// through the store, never for a file changed too recently to trust its timestamps.
#include "util/file_memo.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>
#include <functional>
#include <string>

#include "unit_support.hpp"
#include "util/sha256.hpp"

namespace provium::unit {
namespace {

// Back-dates a file's mtime (its ctime stays now, so it still looks freshly changed).
void set_mtime_ago(const fs::path& p, int seconds) {
  timespec times[2];
  ::clock_gettime(CLOCK_REALTIME, &times[0]);
  times[0].tv_sec -= seconds;
  times[1] = times[0];
  ASSERT_EQ(::utimensat(AT_FDCWD, p.c_str(), times, 0), 0);
}

// A compute function returning `value` that counts its calls in `calls`.
std::function<std::string()> counting(int& calls, std::string value) {
  return [&calls, value] {
    ++calls;
    return value;
  };
}

TEST(FileMemo, ComputesOncePerIdentityAndAgainWhenTheFileChanges) {
  TempDir d;
  fs::path f = d.write("kernel", "one");
  util::FileMemo memo;
  int calls = 0;
  auto compute = [&] {
    ++calls;
    return util::sha256_file(f.string());
  };
  std::string a = memo.get("sha256", f.string(), compute);
  EXPECT_EQ(memo.get("sha256", f.string(), compute), a);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(memo.get("other-kind", f.string(), [] { return std::string("x"); }), "x");
  d.write("kernel", "two!");  // a new size (and mtime)
  EXPECT_NE(memo.get("sha256", f.string(), compute), a);
  EXPECT_EQ(calls, 2);
}

TEST(FileMemo, AStoreCarriesSettledValuesToTheNextInstanceOnly) {
  TempDir d;
  fs::path settled = d.write("settled", "old bytes");
  fs::path fresh = d.write("fresh", "new bytes");
  // A settled file: changed well before it is hashed. Its ctime cannot be back-dated, so wait
  // the racy window out instead of faking it.
  std::string store = (d.path() / "memo.json").string();
  {
    util::FileMemo first(store);
    ::sleep(3);
    EXPECT_EQ(first.get("v", settled.string(), [] { return std::string("S"); }), "S");
    d.write("fresh", "newer bytes");  // changed just now: its value must not be persisted
    EXPECT_EQ(first.get("v", fresh.string(), [] { return std::string("F"); }), "F");
  }
  util::FileMemo second(store);
  int calls = 0;
  EXPECT_EQ(second.get("v", settled.string(), counting(calls, "recomputed")), "S");
  EXPECT_EQ(calls, 0) << "a settled value comes from the store";
  EXPECT_EQ(second.get("v", fresh.string(), counting(calls, "F2")), "F2");
  EXPECT_EQ(calls, 1) << "a value of a file changed within the racy window is recomputed";
}

TEST(FileMemo, ADamagedStoreIsOnlyALostMemoAndAMissingFileNamesItself) {
  TempDir d;
  fs::path f = d.write("f", "x");
  set_mtime_ago(f, 100);
  std::string store = d.write("memo.json", "{not json").string();
  util::FileMemo memo(store);
  EXPECT_EQ(memo.get("v", f.string(), [] { return std::string("ok"); }), "ok");
  try {
    memo.get("v", (d.path() / "missing").string(), [] { return std::string(); });
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("missing"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace provium::unit
