#include "runner/fixture_refs.hpp"

#include <algorithm>
#include <regex>

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

std::filesystem::path resolve_fixture(const std::string& name, const std::vector<std::filesystem::path>& roots) {
  for (auto& r : roots) {
    auto p = r / (name + ".fixture.lua");
    std::error_code ec;
    if (std::filesystem::exists(p, ec)) return p;
  }
  return {};
}

}  // namespace provium::runner
