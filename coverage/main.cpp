// provium-coverage: reads a provium event stream (file, stdin or a live --events-socket) and
// reports test outcomes grouped by a meta key (REFERENCE §11.7).
#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "coverage/aggregate.hpp"

namespace {

using provium::coverage::Aggregate;

// Reads frames from fd until EOF into `agg`. Returns an error line, or "" on success.
std::string consume(int fd, const std::string& source, Aggregate& agg) {
  provium::events::FrameReader reader;
  char buf[65536];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fmt::format("{}: read error: {}", source, std::strerror(errno));
    if (n == 0) break;
    reader.feed(std::string_view(buf, static_cast<size_t>(n)));
    try {
      while (auto e = reader.next()) agg.add(*e);
    } catch (const std::exception& ex) {
      return fmt::format("{}: {}", source, ex.what());
    }
  }
  if (reader.pending() > 0)
    return fmt::format("{}: truncated stream: {} byte(s) of an incomplete frame after frame {} (byte {})", source,
                       reader.pending(), reader.frames(), reader.offset());
  return {};
}

int connect_socket(const std::string& path, std::string& err) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    err = "socket path too long";
    return -1;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    err = std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  std::string from = "-", from_socket, by = "spec", expect;
  bool json = false;
  CLI::App app{"provium-coverage: test outcomes from a provium event stream, grouped by a meta key",
               "provium-coverage"};
  app.set_version_flag("--version", fmt::format("provium-coverage {}", PROVIUM_VERSION));
  auto* from_opt = app.add_option("--from", from, "Event file, or - for stdin")->default_str("-");
  auto* sock_opt = app.add_option("--from-socket", from_socket, "Connect to a provium --events-socket");
  from_opt->excludes(sock_opt);
  app.add_option("--by", by, "Meta key to group by")->default_str("spec");
  app.add_flag("--json", json, "JSON output");
  app.add_option("--expect", expect, "File of expected bucket names, one per line; exit 3 if any is uncovered");
  app.footer("Exit codes: 0 ok; 1 unreadable or undecodable input; 3 with --expect, some expected id uncovered.");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::string msg = e.what();
    fmt::print(stderr, "provium-coverage: {} (see provium-coverage --help)\n", msg.substr(0, msg.find('\n')));
    return 1;
  }
  if (by.empty()) {
    fmt::print(stderr, "provium-coverage: --by needs a meta key name, e.g. --by spec\n");
    return 1;
  }
  std::optional<std::vector<std::string>> expected;
  if (!expect.empty()) {
    std::vector<std::string> warnings;
    try {
      expected = provium::coverage::read_expect_file(expect, warnings);
    } catch (const std::exception& e) {
      fmt::print(stderr, "provium-coverage: {}\n", e.what());
      return 1;
    }
    for (auto& w : warnings) fmt::print(stderr, "provium-coverage: warning: {}\n", w);
  }
  Aggregate agg(by);
  std::string err;
  if (!from_socket.empty()) {
    int fd = connect_socket(from_socket, err);
    if (fd < 0) {
      fmt::print(stderr, "provium-coverage: --from-socket `{}`: {}\n", from_socket, err);
      return 1;
    }
    err = consume(fd, from_socket, agg);
    ::close(fd);
  } else if (from == "-") {
    err = consume(0, "stdin", agg);
  } else {
    int fd = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      fmt::print(stderr, "provium-coverage: --from `{}`: {}\n", from, std::strerror(errno));
      return 1;
    }
    err = consume(fd, from, agg);
    ::close(fd);
  }
  if (!err.empty()) {
    fmt::print(stderr, "provium-coverage: {}\n", err);
    return 1;
  }
  fmt::print("{}", json ? provium::coverage::render_json(agg, expected) : provium::coverage::render_text(agg, expected));
  if (expected && !agg.uncovered(*expected).empty()) return 3;
  return 0;
}
