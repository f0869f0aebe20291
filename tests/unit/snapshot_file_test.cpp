// Snapshot files: header + zstd payload round trip through pipes, and clear errors for files
// that are not snapshots, corrupt or truncated.
#include "vmm/qemu/snapshot_file.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <thread>

#include "unit_support.hpp"

namespace provium::vmm::qemu {
namespace {

std::string payload() {
  std::string s(3 << 20, '\0');  // mostly zeros, like guest RAM, with some noise
  std::mt19937 rng(42);
  for (std::size_t i = 0; i < s.size(); i += 97) s[i] = static_cast<char>(rng());
  return s;
}

std::string write_through_pipe(const std::string& data, const std::string& path,
                               const nlohmann::json& model) {
  int p[2];
  EXPECT_EQ(::pipe(p), 0);
  std::thread w([&] {
    std::size_t off = 0;
    while (off < data.size())
      off += static_cast<std::size_t>(::write(p[1], data.data() + off, data.size() - off));
    ::close(p[1]);
  });
  write_snapshot(p[0], path, model);
  w.join();
  ::close(p[0]);
  return path;
}

std::string read_through_pipe(const std::string& path) {
  int p[2];
  EXPECT_EQ(::pipe(p), 0);
  std::string out;
  std::thread r([&] {
    char buf[65536];
    ssize_t n;
    while ((n = ::read(p[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  });
  try {
    stream_snapshot(path, p[1]);
  } catch (...) {
    ::close(p[1]);
    r.join();
    ::close(p[0]);
    throw;
  }
  ::close(p[1]);
  r.join();
  ::close(p[0]);
  return out;
}

TEST(SnapshotFile, RoundTripKeepsModelAndBytesAndCompresses) {
  unit::TempDir d;
  std::string path = (d.path() / "s.snap").string();
  auto data = payload();
  nlohmann::json model = {{"memory_mib", 256}, {"kernel", "/k"}};
  write_through_pipe(data, path, model);
  EXPECT_LT(std::filesystem::file_size(path), data.size() / 4);
  EXPECT_EQ(read_snapshot_model(path), model);
  EXPECT_EQ(read_through_pipe(path), data);
}

TEST(SnapshotFile, NotASnapshotCorruptAndTruncated) {
  unit::TempDir d;
  std::string junk = (d.path() / "junk").string();
  std::ofstream(junk) << "hello";
  EXPECT_THROW(
      {
        try {
          read_snapshot_model(junk);
        } catch (const std::runtime_error& e) {
          EXPECT_NE(std::string(e.what()).find("is not a provium snapshot"), std::string::npos);
          throw;
        }
      },
      std::runtime_error);

  std::string good = (d.path() / "good").string();
  write_through_pipe(payload(), good, {{"a", 1}});
  std::string bytes;
  {
    std::ifstream in(good, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::string truncated = (d.path() / "truncated").string();
  std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() - 100);
  try {
    read_through_pipe(truncated);
    FAIL() << "a truncated snapshot must not load";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
  std::string corrupt = (d.path() / "corrupt").string();
  std::string c = bytes;
  for (std::size_t i = c.size() / 2; i < c.size() / 2 + 64; ++i) c[i] = static_cast<char>(~c[i]);
  std::ofstream(corrupt, std::ios::binary) << c;
  EXPECT_THROW(read_through_pipe(corrupt), std::runtime_error);
}

}  // namespace
}  // namespace provium::vmm::qemu
