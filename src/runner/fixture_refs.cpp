#include "runner/fixture_refs.hpp"

#include <algorithm>
#include <regex>

#include "util/duration.hpp"

namespace provium::runner {

std::vector<std::string> scan_fixture_refs(const std::string& src) {
  // Matches vm_fixture("a/b"), provium:lab_fixture 'x', lab.vm_fixture([[y]]) forms.
  static const std::regex re(R"re((?:vm|lab)_fixture\s*\(?\s*(?:"([^"\n]*)"|'([^'\n]*)'|\[\[([^\]]*)\]\]))re");
  std::vector<std::string> out;
  for (auto it = std::sregex_iterator(src.begin(), src.end(), re); it != std::sregex_iterator(); ++it) {
    std::string name = (*it)[1].matched ? (*it)[1].str() : (*it)[2].matched ? (*it)[2].str() : (*it)[3].str();
    if (!name.empty() && std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
  }
  return out;
}

std::optional<DeclaredClaim> scan_declared_claim(const std::string& src) {
  static const std::regex call(R"re(provium\s*:\s*claim\s*\(?\s*\{([^}]*)\})re");
  static const std::regex mem(R"re(memory\s*=\s*(?:"([^"]*)"|'([^']*)'|(\d+)))re");
  static const std::regex cpus(R"re(cpus\s*=\s*(\d+))re");
  std::smatch m;
  if (!std::regex_search(src, m, call)) return std::nullopt;
  std::string body = m[1].str();
  DeclaredClaim c;
  std::smatch mm;
  if (std::regex_search(body, mm, mem)) {
    std::string text = mm[1].matched ? mm[1].str() : mm[2].matched ? mm[2].str() : mm[3].str();
    auto p = util::parse_size(text);
    if (!p) return std::nullopt;  // not a literal we can evaluate statically
    c.memory_bytes = *p.value;
  }
  if (std::regex_search(body, mm, cpus)) c.cpus = static_cast<std::uint32_t>(std::stoul(mm[1].str()));
  return c;
}

std::filesystem::path resolve_fixture(const std::string& name, const std::vector<std::filesystem::path>& roots) {
  for (auto& r : roots) {
    auto p = r / (name + ".fixture.lua");
    std::error_code ec;
    if (std::filesystem::exists(p, ec)) return p;
  }
  return {};
}

}  // namespace provium::runner
