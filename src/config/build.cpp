#include "config/build.hpp"

#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <vector>

extern char** environ;

namespace provium::config {

std::optional<std::string> run_build(const Profile& p) {
  if (!p.build) return std::nullopt;
  std::error_code ec;
  fs::create_directories(p.build_out, ec);
  if (ec)
    return fmt::format("provium: profile `{}`: cannot create build_out `{}`: {}", p.name,
                       p.build_out.string(), ec.message());
  fmt::print(stderr, "provium: building profile `{}` → {}\n", p.name, p.build_out.string());
  std::fflush(stderr);
  std::fflush(stdout);

  // posix_spawn with a working-directory change is not in glibc 2.36's public API, so the
  // directory is changed by the shell itself; the path is passed as $1 to avoid quoting bugs.
  std::string script = "cd \"$1\" || exit 126; shift; eval \"$PROVIUM_BUILD_COMMAND\"";
  std::string dir = p.base_dir.string();
  std::string env_entry = "PROVIUM_BUILD_COMMAND=" + *p.build;
  std::vector<std::string> env_store;
  for (char** e = environ; *e; ++e) {
    if (std::strncmp(*e, "PROVIUM_BUILD_COMMAND=", 22) == 0) continue;
    if (std::strncmp(*e, "PROVIUM_TEST_FILTER=", 20) == 0) continue;  // never leaks to children
    env_store.emplace_back(*e);
  }
  env_store.push_back(env_entry);
  std::vector<char*> envp;
  for (auto& s : env_store) envp.push_back(s.data());
  envp.push_back(nullptr);
  const char* argv[] = {"sh", "-c", script.c_str(), "provium-build", dir.c_str(), nullptr};
  pid_t pid;
  int rc = posix_spawn(&pid, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv), envp.data());
  if (rc != 0)
    return fmt::format("provium: profile `{}`: cannot run /bin/sh: {}", p.name, std::strerror(rc));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return std::nullopt;
  if (WIFSIGNALED(status))
    return fmt::format("provium: profile `{}`: build command failed (signal: {})", p.name,
                       WTERMSIG(status));
  return fmt::format("provium: profile `{}`: build command failed (exit status: {})", p.name,
                     WEXITSTATUS(status));
}

std::optional<std::string> run_all_builds(const Config& cfg) {
  for (auto& [name, p] : cfg.profiles) {
    if (auto err = run_build(p)) return err;
  }
  return std::nullopt;
}

}  // namespace provium::config
