// End-to-end checks of the machine-readable reports: --json lines (seed-cli.txt "JSON",
// REFERENCE §2.7) and --junit XML (REFERENCE §2.2, ours).
#include <gtest/gtest.h>

#include <cctype>
#include <cstdlib>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "json_support.hpp"

using namespace provium::e2e;

namespace {

// path -> object, checking every stdout line is one JSON object.
std::map<std::string, json> by_path(const RunOutput& r) {
  std::map<std::string, json> m;
  for (auto& line : lines_of(r.out)) {
    json j = json::parse(line);  // throws (fails the test) on anything that is not JSON
    EXPECT_TRUE(j.is_object()) << line;
    m[j.at("path").get<std::string>()] = j;
  }
  return m;
}

std::set<std::string> keys_of(const json& j) {
  std::set<std::string> s;
  for (auto& [k, v] : j.items()) s.insert(k);
  return s;
}

// ---- a minimal, strict XML reader: enough to prove well-formedness and walk the tree ----------

struct Element {
  std::string name;
  std::map<std::string, std::string> attrs;
  std::vector<std::unique_ptr<Element>> children;
  std::string text;

  std::vector<const Element*> all(const std::string& n) const {
    std::vector<const Element*> v;
    for (auto& c : children)
      if (c->name == n) v.push_back(c.get());
    return v;
  }
  std::string attr(const std::string& n) const {
    auto it = attrs.find(n);
    return it == attrs.end() ? std::string() : it->second;
  }
  const Element* first(const std::string& n) const {
    for (auto& c : children)
      if (c->name == n) return c.get();
    return nullptr;
  }
};

class XmlReader {
 public:
  explicit XmlReader(const std::string& s) : s_(s) {}

  std::unique_ptr<Element> document() {
    skip_ws();
    if (s_.compare(i_, 5, "<?xml") == 0) {
      auto end = s_.find("?>", i_);
      if (end == std::string::npos) fail("unterminated XML declaration");
      i_ = end + 2;
    }
    skip_misc();
    auto root = element();
    skip_misc();
    if (i_ != s_.size()) fail("content after the root element");
    return root;
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    throw std::runtime_error("malformed XML at byte " + std::to_string(i_) + ": " + why);
  }
  void skip_ws() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  void skip_misc() {
    while (true) {
      skip_ws();
      if (s_.compare(i_, 4, "<!--") == 0) {
        auto end = s_.find("-->", i_);
        if (end == std::string::npos) fail("unterminated comment");
        i_ = end + 3;
      } else {
        return;
      }
    }
  }
  static bool name_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == ':' ||
           c == '.';
  }
  std::string name() {
    size_t start = i_;
    while (i_ < s_.size() && name_char(s_[i_])) ++i_;
    if (start == i_) fail("expected a name");
    return s_.substr(start, i_ - start);
  }
  std::string decode(const std::string& raw) {
    std::string out;
    for (size_t k = 0; k < raw.size(); ++k) {
      char c = raw[k];
      if (c == '<') fail("raw '<' in text or attribute");
      if (c != '&') {
        out += c;
        continue;
      }
      auto semi = raw.find(';', k);
      if (semi == std::string::npos) fail("unterminated entity");
      std::string ent = raw.substr(k + 1, semi - k - 1);
      if (ent == "lt")
        out += '<';
      else if (ent == "gt")
        out += '>';
      else if (ent == "amp")
        out += '&';
      else if (ent == "quot")
        out += '"';
      else if (ent == "apos")
        out += '\'';
      else if (ent.size() > 1 && ent[0] == '#') {
        unsigned long cp = ent[1] == 'x' ? std::stoul(ent.substr(2), nullptr, 16)
                                         : std::stoul(ent.substr(1), nullptr, 10);
        if (cp < 0x80) {
          out += static_cast<char>(cp);
        } else if (cp < 0x800) {
          out += static_cast<char>(0xC0 | (cp >> 6));
          out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
          out += static_cast<char>(0xE0 | (cp >> 12));
          out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
          out += static_cast<char>(0x80 | (cp & 0x3F));
        }
      } else {
        fail("unknown entity &" + ent + ";");
      }
      k = semi;
    }
    return out;
  }
  std::unique_ptr<Element> element() {
    if (i_ >= s_.size() || s_[i_] != '<') fail("expected '<'");
    ++i_;
    auto e = std::make_unique<Element>();
    e->name = name();
    while (true) {
      skip_ws();
      if (i_ >= s_.size()) fail("unterminated start tag");
      if (s_.compare(i_, 2, "/>") == 0) {
        i_ += 2;
        return e;
      }
      if (s_[i_] == '>') {
        ++i_;
        break;
      }
      std::string attr = name();
      skip_ws();
      if (i_ >= s_.size() || s_[i_] != '=') fail("expected '=' after attribute " + attr);
      ++i_;
      skip_ws();
      char q = i_ < s_.size() ? s_[i_] : 0;
      if (q != '"' && q != '\'') fail("unquoted attribute " + attr);
      auto end = s_.find(q, i_ + 1);
      if (end == std::string::npos) fail("unterminated attribute " + attr);
      if (e->attrs.count(attr)) fail("duplicate attribute " + attr);
      e->attrs[attr] = decode(s_.substr(i_ + 1, end - i_ - 1));
      i_ = end + 1;
    }
    while (true) {
      auto lt = s_.find('<', i_);
      if (lt == std::string::npos) fail("unterminated element " + e->name);
      e->text += decode(s_.substr(i_, lt - i_));
      i_ = lt;
      if (s_.compare(i_, 9, "<![CDATA[") == 0) {
        auto end = s_.find("]]>", i_);
        if (end == std::string::npos) fail("unterminated CDATA");
        e->text += s_.substr(i_ + 9, end - i_ - 9);
        i_ = end + 3;
      } else if (s_.compare(i_, 4, "<!--") == 0) {
        auto end = s_.find("-->", i_);
        if (end == std::string::npos) fail("unterminated comment");
        i_ = end + 3;
      } else if (s_.compare(i_, 2, "</") == 0) {
        i_ += 2;
        std::string closing = name();
        if (closing != e->name) fail("</" + closing + "> closes <" + e->name + ">");
        skip_ws();
        if (i_ >= s_.size() || s_[i_] != '>') fail("bad end tag");
        ++i_;
        return e;
      } else {
        e->children.push_back(element());
      }
    }
  }

  const std::string& s_;
  size_t i_ = 0;
};

bool is_time(const std::string& s) {
  if (s.empty()) return false;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size() && v >= 0;
}

const char* kMixed =
    "test(\"boots\", function(t) t:log(\"step 1\"); t:log(\"step 2\") end)\n"
    "test(\"fails\", function(t) t:log(\"before\"); t:fail(\"went wrong\") end)\n"
    "test(\"later\", {skip = \"see issue #42\"}, function(t) end)\n";

}  // namespace

// ---- --json ---------------------------------------------------------------------------------

TEST(ReportJson, OneObjectPerFileWithExactlyTheSchemaKeys) {
  Project p;
  p.write("tests/smoke.test.lua", "test(\"a\", function(t) end)\n");
  p.write("tests/mixed.test.lua", kMixed);
  auto r = suite(p, {"tests", "--json"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 2u) << "one line per file and nothing else on stdout:\n" << r.out;
  auto files = by_path(r);
  ASSERT_EQ(files.size(), 2u) << r.out;
  const std::set<std::string> file_keys = {"path", "timeout", "passed", "chunk_error", "tests"};
  const std::set<std::string> test_keys = {"name", "status", "message", "log"};
  for (auto& [path, f] : files) {
    EXPECT_EQ(keys_of(f), file_keys) << f.dump();
    EXPECT_TRUE(f["timeout"].is_string());
    EXPECT_TRUE(f["passed"].is_boolean());
    EXPECT_TRUE(f["tests"].is_array());
    for (auto& t : f["tests"]) {
      EXPECT_EQ(keys_of(t), test_keys) << t.dump();
      EXPECT_TRUE(t["name"].is_string());
      EXPECT_TRUE(t["log"].is_array());
    }
  }
}

TEST(ReportJson, FieldValues) {
  Project p;
  p.write("tests/smoke.test.lua", "test(\"a\", function(t) end)\n");
  p.write("tests/mixed.test.lua", kMixed);
  auto files = by_path(suite(p, {"tests", "--json"}));
  ASSERT_TRUE(files.count("tests/smoke.test.lua")) << "paths are as discovered";
  ASSERT_TRUE(files.count("tests/mixed.test.lua"));

  auto& smoke = files["tests/smoke.test.lua"];
  EXPECT_EQ(smoke["timeout"], "in_time");
  EXPECT_EQ(smoke["passed"], true);
  EXPECT_TRUE(smoke["chunk_error"].is_null());
  ASSERT_EQ(smoke["tests"].size(), 1u);
  EXPECT_EQ(smoke["tests"][0],
            json::parse(R"({"name":"a","status":"passed","message":null,"log":[]})"));

  auto& mixed = files["tests/mixed.test.lua"];
  EXPECT_EQ(mixed["timeout"], "in_time");
  EXPECT_EQ(mixed["passed"], false);
  EXPECT_TRUE(mixed["chunk_error"].is_null());
  ASSERT_EQ(mixed["tests"].size(), 3u);
  auto& boots = mixed["tests"][0];
  EXPECT_EQ(boots["name"], "boots");
  EXPECT_EQ(boots["status"], "passed");
  EXPECT_TRUE(boots["message"].is_null());
  EXPECT_EQ(boots["log"], json::parse(R"(["step 1","step 2"])"));
  auto& fails = mixed["tests"][1];
  EXPECT_EQ(fails["name"], "fails");
  EXPECT_EQ(fails["status"], "failed");
  ASSERT_TRUE(fails["message"].is_string());
  EXPECT_TRUE(fails["message"].get<std::string>().ends_with("went wrong")) << fails.dump();
  EXPECT_EQ(fails["log"], json::parse(R"(["before"])"));
  auto& later = mixed["tests"][2];
  EXPECT_EQ(later["status"], "skipped");
  EXPECT_EQ(later["message"], "skipped: see issue #42");
  EXPECT_EQ(later["log"], json::array());
}

TEST(ReportJson, RaisedErrorMessageIsTheErrorText) {
  // REFERENCE §4.2 "Raised error → Failed (message = error text)"; seed example `"1 ~= 2"`.
  Project p;
  p.write("tests/e.test.lua", "test(\"fails\", function(t) error(\"1 ~= 2\", 0) end)\n");
  auto files = by_path(suite(p, {"tests", "--json"}));
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files["tests/e.test.lua"]["tests"][0]["message"], "1 ~= 2");
}

TEST(ReportJson, ChunkError) {
  Project p;
  p.write("tests/broken.test.lua", "error(\"file scope exploded\", 0)\n");
  auto r = suite(p, {"tests", "--json"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  auto files = by_path(r);
  ASSERT_EQ(files.size(), 1u);
  auto& f = files["tests/broken.test.lua"];
  EXPECT_EQ(f["passed"], false);
  ASSERT_TRUE(f["chunk_error"].is_string()) << f.dump();
  EXPECT_TRUE(contains(f["chunk_error"].get<std::string>(), "file scope exploded")) << f.dump();
  EXPECT_EQ(f["timeout"], "in_time");
}

TEST(ReportJson, TimedOutFile) {
  Project p;
  p.write("tests/long.test.lua",
          "test(\"stuck\", function(t)\n"
          "  wait_until(function() return false end, {timeout = \"10s\", interval = \"10ms\"})\n"
          "end)\n");
  auto r = suite(p, {"tests", "--json", "--timeout", "300ms"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  auto files = by_path(r);
  ASSERT_EQ(files.size(), 1u) << r.out;
  auto& f = files["tests/long.test.lua"];
  EXPECT_EQ(f["timeout"], "timed_out");
  EXPECT_EQ(f["passed"], false);
}

TEST(ReportJson, NoTextOnStdout) {
  Project p;
  p.write("tests/a.test.lua", "test(\"a\", function(t) end)\n");
  auto r = suite(p, {"tests", "--json"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_FALSE(contains(r.out, "file(s);")) << r.out;
  EXPECT_FALSE(contains(r.out, "PASS")) << r.out;
  EXPECT_EQ(lines_of(r.out).size(), 1u) << r.out;
}

TEST(ReportJson, InvalidUtf8IsReplacedNotACrash) {
  Project p;
  p.write("tests/u.test.lua",
          "test(\"bytes\", function(t) error(\"bad \\xff\\xfe byte\", 0) end)\n");
  auto r = suite(p, {"tests", "--json"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  auto files = by_path(r);
  ASSERT_EQ(files.size(), 1u) << r.out;
  EXPECT_EQ(files["tests/u.test.lua"]["tests"][0]["status"], "failed");
}

// ---- --junit --------------------------------------------------------------------------------

TEST(ReportJunit, WellFormedWithSuitesCasesFailuresAndSkips) {
  Project p;
  p.write("tests/smoke.test.lua",
          "test(\"one\", function(t) end)\n"
          "test(\"two\", function(t) end)\n");
  p.write("tests/mixed.test.lua", kMixed);
  auto r = suite(p, {"tests", "--junit", "report.xml"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  // The text report still goes to stdout.
  EXPECT_TRUE(contains(r.out, "PASS tests/smoke.test.lua (2 passed, 0 failed, 0 skipped)"))
      << r.out;
  std::string xml = p.read("report.xml");
  ASSERT_FALSE(xml.empty()) << "no report.xml";
  std::unique_ptr<Element> root;
  ASSERT_NO_THROW(root = XmlReader(xml).document()) << xml;

  std::vector<const Element*> suites;
  if (root->name == "testsuite") {
    suites.push_back(root.get());
  } else {
    ASSERT_EQ(root->name, "testsuites") << xml;
    suites = root->all("testsuite");
  }
  ASSERT_EQ(suites.size(), 2u) << "one <testsuite> per file:\n" << xml;
  std::map<std::string, const Element*> by_name;
  for (auto* s : suites) {
    ASSERT_TRUE(s->attrs.count("name")) << xml;
    by_name[s->attrs.at("name")] = s;
    ASSERT_TRUE(s->attrs.count("time")) << xml;
    EXPECT_TRUE(is_time(s->attrs.at("time"))) << s->attrs.at("time");
  }
  ASSERT_TRUE(by_name.count("tests/smoke.test.lua")) << xml;
  ASSERT_TRUE(by_name.count("tests/mixed.test.lua")) << xml;

  auto smoke_cases = by_name["tests/smoke.test.lua"]->all("testcase");
  ASSERT_EQ(smoke_cases.size(), 2u) << xml;
  EXPECT_EQ(smoke_cases[0]->attrs.at("name"), "one");
  EXPECT_EQ(smoke_cases[1]->attrs.at("name"), "two");
  for (auto* c : smoke_cases) {
    EXPECT_EQ(c->first("failure"), nullptr);
    EXPECT_EQ(c->first("skipped"), nullptr);
  }

  auto* mixed = by_name["tests/mixed.test.lua"];
  EXPECT_EQ(mixed->attrs.at("tests"), "3") << xml;
  EXPECT_EQ(mixed->attrs.at("failures"), "1") << xml;
  EXPECT_EQ(mixed->attrs.at("skipped"), "1") << xml;
  auto cases = mixed->all("testcase");
  ASSERT_EQ(cases.size(), 3u) << xml;
  for (auto* c : cases) {
    ASSERT_TRUE(c->attrs.count("time")) << xml;
    EXPECT_TRUE(is_time(c->attrs.at("time"))) << c->attrs.at("time");
  }
  EXPECT_EQ(cases[0]->attrs.at("name"), "boots");
  EXPECT_EQ(cases[0]->first("failure"), nullptr);
  EXPECT_EQ(cases[1]->attrs.at("name"), "fails");
  auto* failure = cases[1]->first("failure");
  ASSERT_NE(failure, nullptr) << xml;
  EXPECT_TRUE(contains(failure->attr("message") + failure->text, "went wrong")) << xml;
  EXPECT_EQ(cases[2]->attrs.at("name"), "later");
  auto* skipped = cases[2]->first("skipped");
  ASSERT_NE(skipped, nullptr) << xml;
  EXPECT_TRUE(contains(skipped->attr("message") + skipped->text, "skipped: see issue #42")) << xml;
  EXPECT_EQ(cases[2]->first("failure"), nullptr);
}

TEST(ReportJunit, EscapesMarkupInNamesAndMessages) {
  Project p;
  p.write(
      "tests/esc.test.lua",
      "test(\"a <b> & \\\"c\\\" 'd'\", function(t) error(\"x < y && z > \\\"w\\\"\", 0) end)\n");
  auto r = suite(p, {"tests", "--junit", "report.xml"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  std::string xml = p.read("report.xml");
  std::unique_ptr<Element> root;
  ASSERT_NO_THROW(root = XmlReader(xml).document()) << xml;
  const Element* s = root->name == "testsuite" ? root.get() : root->first("testsuite");
  ASSERT_NE(s, nullptr) << xml;
  auto* c = s->first("testcase");
  ASSERT_NE(c, nullptr) << xml;
  EXPECT_EQ(c->attrs.at("name"), "a <b> & \"c\" 'd'");
  auto* f = c->first("failure");
  ASSERT_NE(f, nullptr) << xml;
  EXPECT_TRUE(contains(f->attr("message") + f->text, "x < y && z > \"w\"")) << xml;
}

TEST(ReportJunit, WrittenForAPassingRunWithoutChangingTheExitCode) {
  Project p;
  p.write("tests/a.test.lua", "test(\"a\", function(t) end)\n");
  auto r = suite(p, {"tests", "--junit", "junit.xml", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::unique_ptr<Element> root;
  ASSERT_NO_THROW(root = XmlReader(p.read("junit.xml")).document());
  EXPECT_EQ(by_path(r).size(), 1u);
}

TEST(ReportJunit, ChunkErrorIsReported) {
  Project p;
  p.write("tests/broken.test.lua", "error(\"file scope exploded\", 0)\n");
  auto r = suite(p, {"tests", "--junit", "junit.xml"});
  EXPECT_EQ(r.exit_code, 1);
  std::string xml = p.read("junit.xml");
  std::unique_ptr<Element> root;
  ASSERT_NO_THROW(root = XmlReader(xml).document()) << xml;
  EXPECT_TRUE(contains(xml, "file scope exploded")) << xml;
  const Element* s = root->name == "testsuite" ? root.get() : root->first("testsuite");
  ASSERT_NE(s, nullptr) << xml;
  EXPECT_EQ(s->attr("name"), "tests/broken.test.lua");
}
