#include "json_support.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <sstream>

namespace provium::e2e {

RunOutput suite(const Project& p, std::vector<std::string> args, const Env& env,
                const std::optional<fs::path>& cwd) {
  args.push_back("--no-preflight");
  args.push_back("--no-ksm");
  return p.run(args, env, std::chrono::seconds(30), cwd);
}

void write_passing(const Project& p, const std::string& rel) {
  p.write(rel, "test(\"ok\", function(t) end)\n");
}

bool contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> v;
  std::istringstream in(s);
  std::string line;
  while (std::getline(in, line)) v.push_back(line);
  return v;
}

std::vector<json> json_lines(const std::string& out) {
  std::vector<json> v;
  for (auto& line : lines_of(out))
    if (!line.empty() && line[0] == '{') v.push_back(json::parse(line, nullptr, false));
  return v;
}

std::set<std::string> paths_run(const RunOutput& r) {
  std::set<std::string> s;
  for (auto& f : json_lines(r.out))
    if (f.is_object() && f.contains("path")) s.insert(f["path"].get<std::string>());
  return s;
}

json file_of(const RunOutput& r, const std::string& name) {
  for (auto& j : json_lines(r.out)) {
    if (!j.is_object() || !j.contains("path") || !j["path"].is_string()) continue;
    std::string p = j["path"].get<std::string>();
    if (p == name || ends_with(p, "/" + name)) return j;
  }
  return nullptr;
}

json test_of(const json& file, const std::string& name) {
  if (!file.is_object() || !file.contains("tests")) return nullptr;
  for (auto& t : file["tests"])
    if (t.value("name", "") == name) return t;
  return nullptr;
}

std::string message(const json& t) {
  if (!t.is_object() || !t.contains("message") || !t["message"].is_string()) return "<none>";
  return t["message"].get<std::string>();
}

std::string dump(const RunOutput& r) {
  return "exit=" + std::to_string(r.exit_code) + " signal=" + std::to_string(r.signal) +
         " timed_out=" + std::to_string(r.timed_out) + "\n--- stdout\n" + r.out +
         "\n--- stderr\n" + r.err;
}

void expect_all_passed(const RunOutput& r, const std::string& file) {
  EXPECT_EQ(r.exit_code, 0) << dump(r);
  auto f = file_of(r, file);
  ASSERT_TRUE(f.is_object()) << dump(r);
  EXPECT_TRUE(f["chunk_error"].is_null()) << dump(r);
  EXPECT_FALSE(f["tests"].empty()) << dump(r);
  for (auto& t : f["tests"]) EXPECT_EQ(t["status"], "passed") << t.dump();
}

}  // namespace provium::e2e
