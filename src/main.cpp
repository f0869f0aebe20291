// provium: thin entry point; everything lives in the provium_core library the tests link too.
#include <csignal>
#include <cstdio>
#include <exception>

#include "cli/commands.hpp"

int main(int argc, char** argv) {
  // A consumer closing a pipe (provium --events-stdout | head) must be an error we report,
  // not a signal that kills the run.
  std::signal(SIGPIPE, SIG_IGN);
  try {
    int code = provium::cli::main_entry(argc, argv);
    std::fflush(stdout);
    return code;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "provium: internal error: %s\n", e.what());
    return 2;
  }
}
