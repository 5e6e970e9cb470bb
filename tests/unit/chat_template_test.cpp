// Chat templates rendered as transformers renders them, and the Jinja interpreter behind them.
//
// tests/fixtures/chat/chat_templates.json comes from tools/gen_chat_template_fixtures.py: the chat
// templates of widely used model families, conversations (with and without system messages,
// non-ASCII and empty content, content as parts, tools and tool calls, conversations the templates
// refuse) and what transformers' apply_chat_template(tokenize=False) renders for each, or the error
// it raises; plus small one-feature templates and seeded random expressions rendered by Jinja in
// transformers' environment.
// Every rendering must match byte for byte.
#include "sdk/chat/chat_template.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <typeinfo>
#include <vector>

#include "sdk/chat/jinja.h"
#include "sdk/core/error.h"
#include "sdk/core/utf8.h"

namespace {

namespace fs = std::filesystem;
using krait::chat::ChatTemplate;
using krait::chat::OrderedJson;
using krait::jinja::Template;
using krait::jinja::TemplateRaisedError;
using krait::jinja::Value;

const std::string kFixture = "tests/fixtures/chat/chat_templates.json";

const OrderedJson& fixture() {
    static const OrderedJson data = [] {
        std::ifstream in(kFixture, std::ios::binary);
        if (!in) throw std::runtime_error("cannot open " + kFixture + " (run the test from the repository root)");
        return OrderedJson::parse(in);
    }();
    return data;
}

// The fixture's fixed "now" (2024-07-26T14:05:09) as strftime_now() sees it.
krait::jinja::RenderOptions fixed_now() {
    krait::jinja::RenderOptions options;
    options.now = [] {
        const std::string iso = fixture()["now"].get<std::string>();
        std::tm tm{};
        tm.tm_year = std::stoi(iso.substr(0, 4)) - 1900;
        tm.tm_mon = std::stoi(iso.substr(5, 2)) - 1;
        tm.tm_mday = std::stoi(iso.substr(8, 2));
        tm.tm_hour = std::stoi(iso.substr(11, 2));
        tm.tm_min = std::stoi(iso.substr(14, 2));
        tm.tm_sec = std::stoi(iso.substr(17, 2));
        std::mktime(&tm);  // fills in the weekday
        return tm;
    };
    return options;
}

krait::jinja::Dict variables_of(const OrderedJson& object) { return Value::from_json(object).as_dict(); }

std::string render(const std::string& source, const OrderedJson& variables = OrderedJson::object()) {
    return Template(source).render(variables_of(variables), fixed_now());
}

// The status of the krait::Error that `f` throws (KRAIT_OK if none), and its message.
template <typename F>
std::pair<krait_status, std::string> failure_of(F&& f) {
    try {
        f();
    } catch (const krait::Error& e) {
        return {e.status(), e.what()};
    }
    return {KRAIT_OK, ""};
}

std::string repeat_string(const std::string& s, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += s;
    return out;
}

class TempDir {
public:
    TempDir() {
        path_ = fs::temp_directory_path() / ("krait_chat_test_" + std::to_string(std::random_device{}()));
        fs::create_directories(path_);
    }
    ~TempDir() { fs::remove_all(path_); }
    std::string write(const std::string& name, const std::string& text) const {
        const fs::path file = path_ / name;
        fs::create_directories(file.parent_path());
        std::ofstream(file, std::ios::binary) << text;
        return file.string();
    }
    std::string path() const { return path_.string(); }

private:
    fs::path path_;
};

// ---- The model families' templates, against transformers ---------------------------------------

TEST(ChatTemplateFixtures, RecordsWhatMadeThem) {
    EXPECT_FALSE(fixture()["transformers_version"].get<std::string>().empty());
    EXPECT_GE(fixture()["templates"].size(), 12u);
    EXPECT_GE(fixture()["cases"].size(), 300u);
}

TEST(ChatTemplateFixtures, EveryRenderingMatchesTransformers) {
    // Each template is loaded as a model ships it: tokenizer_config.json with the template and
    // the special tokens.
    std::map<std::string, ChatTemplate> loaded;
    std::vector<std::unique_ptr<TempDir>> dirs;
    for (const auto& [name, entry] : fixture()["templates"].items()) {
        OrderedJson config = entry["special_tokens"];
        config["chat_template"] = entry["source"];
        dirs.push_back(std::make_unique<TempDir>());
        dirs.back()->write("tokenizer_config.json", config.dump());
        loaded.emplace(name, ChatTemplate::load(dirs.back()->path()));
    }
    int rendered = 0, refused = 0;
    for (const OrderedJson& c : fixture()["cases"]) {
        const std::string name = c["template"].get<std::string>();
        SCOPED_TRACE(name + " / " + c["conversation"].get<std::string>() +
                     (c["add_generation_prompt"].get<bool>() ? " / add_generation_prompt" : ""));
        const ChatTemplate& chat = loaded.at(name);
        const auto run = [&] {
            return chat.render(c["messages"], c["add_generation_prompt"].get<bool>(), c["variables"], "", fixed_now());
        };
        if (c.contains("expected")) {
            std::string got;
            try {
                got = run();
            } catch (const std::exception& e) {
                ADD_FAILURE() << "failed: " << e.what();
                continue;
            }
            EXPECT_EQ(got, c["expected"].get<std::string>());
            ++rendered;
        } else if (c["raised"].get<bool>()) {
            try {
                run();
                ADD_FAILURE() << "rendered, expected raise_exception: " << c["error"];
            } catch (const TemplateRaisedError& e) {
                EXPECT_EQ(e.template_message(), c["error"].get<std::string>());
                EXPECT_EQ(e.status(), KRAIT_ERR_INVALID_ARGUMENT);
            }
            ++refused;
        } else {
            const auto [status, message] = failure_of(run);
            EXPECT_EQ(status, KRAIT_ERR_INVALID_ARGUMENT) << message << " / transformers: " << c["error"];
            ++refused;
        }
    }
    EXPECT_GT(rendered, 300);
    EXPECT_GT(refused, 20);
}

// A one-feature template or random expression, rendered with `variables`, against Jinja's outcome.
void expect_like_jinja(const OrderedJson& f, const OrderedJson& variables) {
    const std::string source = f["template"].get<std::string>();
    SCOPED_TRACE(source);
    const auto run = [&] { return render(source, variables); };
    if (f.contains("expected")) {
        try {
            EXPECT_EQ(run(), f["expected"].get<std::string>());
        } catch (const std::exception& e) {
            ADD_FAILURE() << "failed: " << e.what();
        }
    } else if (f["raised"].get<bool>()) {
        try {
            run();
            ADD_FAILURE() << "rendered, expected raise_exception";
        } catch (const TemplateRaisedError& e) {
            EXPECT_EQ(e.template_message(), f["error"].get<std::string>());
        }
    } else {
        const auto [status, message] = failure_of(run);
        EXPECT_EQ(status, KRAIT_ERR_INVALID_ARGUMENT) << message << " / Jinja: " << f["error"];
    }
}

TEST(ChatTemplateFixtures, EveryFeatureMatchesJinja) {
    for (const OrderedJson& f : fixture()["features"]) expect_like_jinja(f, f["variables"]);
}

TEST(ChatTemplateFixtures, RandomStatementsMatchJinja) {
    ASSERT_GE(fixture()["statements"].size(), 500u);
    for (const OrderedJson& e : fixture()["statements"]) expect_like_jinja(e, fixture()["expression_variables"]);
}

TEST(ChatTemplateFixtures, RandomFilterCallsMatchJinja) {
    ASSERT_GE(fixture()["filter_calls"].size(), 400u);
    for (const OrderedJson& e : fixture()["filter_calls"]) expect_like_jinja(e, fixture()["filter_variables"]);
}

TEST(ChatTemplateFixtures, RandomExpressionsMatchJinja) {
    ASSERT_GE(fixture()["expressions"].size(), 500u);
    for (const OrderedJson& e : fixture()["expressions"]) expect_like_jinja(e, fixture()["expression_variables"]);
}

// ---- Loading templates as models ship them ----------------------------------------------------

const std::string kEcho = "{% for m in messages %}{{ m.role }}:{{ m.content }};{% endfor %}{{ bos_token }}";
const OrderedJson kHello = OrderedJson::parse(R"([{"role": "user", "content": "hi"}])");

TEST(ChatTemplateLoading, ReadsTokenizerConfigWithItsSpecialTokens) {
    TempDir dir;
    OrderedJson config = {{"chat_template", kEcho}, {"bos_token", {{"content", "<s>"}, {"special", true}}}};
    dir.write("tokenizer_config.json", config.dump());
    EXPECT_EQ(ChatTemplate::load(dir.path()).render(kHello, false), "user:hi;<s>");
}

TEST(ChatTemplateLoading, PrefersChatTemplateJinjaThenChatTemplateJson) {
    TempDir dir;
    dir.write("tokenizer_config.json", OrderedJson{{"chat_template", "config"}, {"bos_token", "<s>"}}.dump());
    dir.write("chat_template.json", OrderedJson{{"chat_template", "processor"}}.dump());
    EXPECT_EQ(ChatTemplate::load(dir.path()).render(kHello, false), "processor");
    dir.write("chat_template.jinja", "jinja file {{ bos_token }}\n");
    EXPECT_EQ(ChatTemplate::load(dir.path()).render(kHello, false), "jinja file <s>");
    dir.write("additional_chat_templates/tool_use.jinja", "tools: {{ tools | length }}");
    const ChatTemplate chat = ChatTemplate::load(dir.path());
    EXPECT_EQ(chat.template_names(), (std::vector<std::string>{"default", "tool_use"}));
    EXPECT_EQ(chat.render(kHello, false, {{"tools", OrderedJson::array({1, 2})}}), "tools: 2");
}

TEST(ChatTemplateLoading, AdditionalTemplateFilesAloneOverrideTheConfig) {
    TempDir dir;
    dir.write("tokenizer_config.json", OrderedJson{{"chat_template", "config"}}.dump());
    dir.write("additional_chat_templates/default.jinja", "file");
    dir.write("additional_chat_templates/notes.txt", "not a template");
    const ChatTemplate chat = ChatTemplate::load(dir.path());
    EXPECT_EQ(chat.template_names(), std::vector<std::string>{"default"});
    EXPECT_EQ(chat.render(kHello, false), "file");
}

TEST(ChatTemplateLoading, ChoosesAmongNamedTemplatesAsTransformersDoes) {
    TempDir dir;
    OrderedJson config;
    config["chat_template"] = OrderedJson::array({{{"name", "default"}, {"template", "default"}},
                                                  {{"name", "tool_use"}, {"template", "tool_use"}},
                                                  {{"name", "rag"}, {"template", "rag {{ documents[0] }}"}}});
    dir.write("tokenizer_config.json", config.dump());
    const ChatTemplate chat = ChatTemplate::load(dir.path());
    EXPECT_EQ(chat.render(kHello, false), "default");
    EXPECT_EQ(chat.render(kHello, false, {{"tools", OrderedJson::array()}}), "tool_use");
    EXPECT_EQ(chat.render(kHello, false, {{"tools", nullptr}}), "default");
    EXPECT_EQ(chat.render(kHello, false, {{"documents", {"d"}}}, "rag"), "rag d");
    const auto [status, message] = failure_of([&] { chat.render(kHello, false, OrderedJson::object(), "missing"); });
    EXPECT_EQ(status, KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_NE(message.find("'rag'"), std::string::npos) << message;
}

TEST(ChatTemplateLoading, AModelWithoutTemplateAsksForOne) {
    TempDir dir;
    dir.write("tokenizer_config.json", OrderedJson{{"bos_token", "<s>"}}.dump());
    const auto [status, message] = failure_of([&] { ChatTemplate::load(dir.path()); });
    EXPECT_EQ(status, KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_NE(message.find("pass a template"), std::string::npos) << message;
    // The caller's template, with the model's special tokens.
    EXPECT_EQ(ChatTemplate::with_source(kEcho, dir.path()).render(kHello, false), "user:hi;<s>");
    EXPECT_EQ(ChatTemplate::with_source(kEcho).render(kHello, false), "user:hi;");
}

TEST(ChatTemplateLoading, RefusesMalformedFilesAndTemplates) {
    TempDir dir;
    dir.write("tokenizer_config.json", "{not json");
    EXPECT_EQ(failure_of([&] { ChatTemplate::load(dir.path()); }).first, KRAIT_ERR_FORMAT);
    dir.write("tokenizer_config.json", OrderedJson{{"chat_template", 5}}.dump());
    EXPECT_EQ(failure_of([&] { ChatTemplate::load(dir.path()); }).first, KRAIT_ERR_FORMAT);
    dir.write("tokenizer_config.json", OrderedJson{{"chat_template", "{% include 'x' %}"}}.dump());
    const auto [status, message] = failure_of([&] { ChatTemplate::load(dir.path()); });
    EXPECT_EQ(status, KRAIT_ERR_UNSUPPORTED);
    EXPECT_NE(message.find("tokenizer_config.json"), std::string::npos) << message;
}

TEST(ChatTemplateRendering, RefusesMalformedMessages) {
    const ChatTemplate chat = ChatTemplate::with_source(kEcho);
    for (const char* bad : {R"({"role": "user"})", R"([])", R"(["text"])", R"([1])"}) {
        EXPECT_EQ(failure_of([&] { chat.render(OrderedJson::parse(bad), false); }).first, KRAIT_ERR_INVALID_ARGUMENT)
            << bad;
    }
    OrderedJson invalid_utf8 = kHello;
    invalid_utf8[0]["content"] = std::string("\xff");
    EXPECT_EQ(failure_of([&] { chat.render(invalid_utf8, false); }).first, KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(failure_of([&] { chat.render(kHello, false, {{"messages", 1}}); }).first, KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(failure_of([&] { chat.render(kHello, false, OrderedJson::array()); }).first, KRAIT_ERR_INVALID_ARGUMENT);
}

// ---- The interpreter: errors, refusals, limits ----------------------------------------------------

TEST(Jinja, SyntaxErrorsNameTheLine) {
    const std::pair<const char*, const char*> cases[] = {
        {"ok\n{{ 1 + }}", "line 2"},
        {"{% if x %}\nno end", "endif"},
        {"{{ 'unterminated }}", "unterminated string"},
        {"a\nb\n{% endfor %}", "line 3"},
        {"{% frobnicate %}", "unknown statement"},
        {"{{ x", "missing '}}'"},
        {"{# never closed", "comment"},
        {"{{ a b }}", "expected '}}'"},
        {"{% for in x %}{% endfor %}", "expected 'in'"},
        {"{{ f(a=1, 2) }}", "positional argument follows"},
        {"{{ x $ y }}", "unexpected character"},
    };
    for (const auto& [source, expected] : cases) {
        const std::string& src = source;  // clang 14 cannot capture a structured binding
        const auto [status, message] = failure_of([&] { Template{src}; });
        EXPECT_EQ(status, KRAIT_ERR_INVALID_ARGUMENT) << source << ": " << message;
        EXPECT_NE(message.find(expected), std::string::npos) << source << ": " << message;
    }
}

TEST(Jinja, RenderErrorsNameTheLine) {
    const auto [status, message] = failure_of([] { render("one\ntwo\n{{ x.y.z }}", {{"x", OrderedJson::object()}}); });
    EXPECT_EQ(status, KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_NE(message.find("line 3"), std::string::npos) << message;
    EXPECT_NE(message.find("'dict object' has no attribute 'y'"), std::string::npos) << message;
}

TEST(Jinja, RaiseExceptionCarriesTheTemplatesMessage) {
    try {
        render("{% if true %}\n  {{ raise_exception('Roles must alternate: \\'user\\' first') }}\n{% endif %}");
        FAIL() << "rendered";
    } catch (const TemplateRaisedError& e) {
        EXPECT_EQ(e.template_message(), "Roles must alternate: 'user' first");
        EXPECT_EQ(e.status(), KRAIT_ERR_INVALID_ARGUMENT);
        EXPECT_NE(std::string(e.what()).find("line 2"), std::string::npos) << e.what();
    }
}

TEST(Jinja, RefusesUnsupportedConstructsByName) {
    const std::pair<const char*, const char*> cases[] = {
        {"{% include 'other.jinja' %}", "'include'"},
        {"{% extends 'base.jinja' %}", "'extends'"},
        {"{% import 'macros.jinja' as m %}", "'import'"},
        {"{% from 'm.jinja' import x %}", "'from'"},
        {"{% block body %}{% endblock %}", "'block'"},
        {"{% raw %}{{ x }}{% endraw %}", "'raw'"},
        {"{{ x | frobnicate }}", "filter 'frobnicate'"},
        {"{% if false %}{{ x | groupby('a') }}{% endif %}", "filter 'groupby'"},  // refused even unused, as Jinja does
        {"{{ x is frobnicated }}", "test 'frobnicated'"},
        {"{% for x in y recursive %}{% endfor %}", "recursive"},
        {"{{ f(*args) }}", "*args"},
    };
    for (const auto& [source, expected] : cases) {
        const std::string& src = source;  // clang 14 cannot capture a structured binding
        const auto [status, message] = failure_of([&] { Template{src}; });
        EXPECT_EQ(status, KRAIT_ERR_UNSUPPORTED) << source << ": " << message;
        EXPECT_NE(message.find(expected), std::string::npos) << source << ": " << message;
        EXPECT_NE(message.find("line 1"), std::string::npos) << message;
    }
    EXPECT_EQ(failure_of([] { render("{{ '%s' % 1 }}"); }).first, KRAIT_ERR_UNSUPPORTED);
    const auto [status, message] = failure_of([] { render("\n{{ '{}'.format(1) }}"); });
    EXPECT_EQ(status, KRAIT_ERR_UNSUPPORTED);
    EXPECT_NE(message.find("line 2: the string method 'format'()"), std::string::npos) << message;
}

TEST(Jinja, StrftimeNowUsesTheInjectedClock) { EXPECT_EQ(render("{{ strftime_now('%d %b %Y') }}"), "26 Jul 2024"); }

TEST(Jinja, RunawayTemplatesStopWithAnError) {
    const char* runaways[] = {
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
        "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
        "{{ 'x' * 1000000000000 }}",
        "{{ [1, 2] * 1000000000000 }}",
        "{{ range(1000000) }}",
        "{{ 2 ** 64 }}",
        "{{ 9223372036854775807 + 1 }}",
        "{% for i in range(100000) %}{{ 'abcdefghijklmnopqrstuvwxyz' * 1000 }}{% endfor %}",
        "{% set ns = namespace(x=[]) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}{% endfor %}",
        "{% set ns = namespace(x={}) %}{% for i in range(100000) %}{% set ns.x = {'k': ns.x} %}{% endfor %}",
    };
    for (const char* source : runaways) {
        EXPECT_EQ(failure_of([&] { render(source); }).first, KRAIT_ERR_INVALID_ARGUMENT) << source;
    }
    // A range near the int64 limits stops where Python's does, without overflowing.
    EXPECT_EQ(render("{{ range(-9223372036854775807, 9223372036854775807, 4611686018427387904) | list }}"),
              "[-9223372036854775807, -4611686018427387903, 1, 4611686018427387905]");
    // Nesting deep enough to exhaust the stack is refused when parsing.
    for (const std::string& deep :
         {std::string(100000, '(') + "1", std::string(20000, '[') + "1", std::string(50000, '-') + "1",
          repeat_string("{% if x %}", 5000), repeat_string("not ", 50000) + "x"}) {
        EXPECT_EQ(failure_of([&] { Template{"{{ " + deep + " }}"}; }).first, KRAIT_ERR_INVALID_ARGUMENT);
    }
}

TEST(Jinja, NamespacesCannotHoldNamespaces) {
    // That is what would let a template build reference cycles.
    EXPECT_EQ(failure_of([] { render("{% set ns = namespace() %}{% set ns.self = [ns] %}"); }).first,
              KRAIT_ERR_UNSUPPORTED);
    EXPECT_EQ(failure_of([] { render("{% set a = namespace() %}{% set b = namespace(a=a) %}"); }).first,
              KRAIT_ERR_UNSUPPORTED);
}

TEST(ChatTemplateRendering, RefusesDeeplyNestedData) {
    const std::string deep = std::string(10000, '[') + std::string(10000, ']');
    OrderedJson messages = kHello;
    messages[0]["content"] = OrderedJson::parse(deep);
    const ChatTemplate chat = ChatTemplate::with_source(kEcho);
    EXPECT_EQ(failure_of([&] { chat.render(messages, false); }).first, KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(failure_of([&] {
                  chat.render(kHello, false, {{"tools", OrderedJson::parse(deep)}});
              }).first,
              KRAIT_ERR_INVALID_ARGUMENT);
}

TEST(Jinja, NamespacesRejectPrivateNames) {
    EXPECT_EQ(failure_of([] { render("{% set ns = namespace(_x=1) %}"); }).first, KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(failure_of([] { render("{% set x = 1 %}{% set x.y = 2 %}"); }).first, KRAIT_ERR_INVALID_ARGUMENT);
}

TEST(Jinja, RefusesTemplatesThatAreNotUtf8) {
    EXPECT_EQ(failure_of([] { Template{"{{ 'a' }}\xc3"}; }).first, KRAIT_ERR_INVALID_ARGUMENT);
}

// ---- Robustness: damaged templates never crash ----------------------------------------------------

TEST(Jinja, MutatedTemplatesFailCleanlyOrRender) {
    // Each fixture template (families and one-feature ones), cut, duplicated and spliced with
    // Jinja's own syntax at random places,
    // must either render or fail with krait::Error; any other exception or a crash is a bug.
    static const char* const kPieces[] = {"{%",
                                          "%}",
                                          "{{",
                                          "}}",
                                          "{#",
                                          "#}",
                                          "-",
                                          "+",
                                          "(",
                                          ")",
                                          "[",
                                          "]",
                                          "{",
                                          "}",
                                          "'",
                                          "\"",
                                          "\\",
                                          "|",
                                          ":",
                                          ",",
                                          ".",
                                          "~",
                                          "*",
                                          "**",
                                          "//",
                                          "%",
                                          " if ",
                                          " else ",
                                          " endif ",
                                          " for x in ",
                                          " endfor ",
                                          " set ",
                                          " = ",
                                          " is ",
                                          " not ",
                                          " in ",
                                          " and ",
                                          " or ",
                                          "loop.",
                                          "messages",
                                          "[-1]",
                                          "[::-1]",
                                          " macro m(a) ",
                                          " endmacro ",
                                          "m(",
                                          "namespace(",
                                          "raise_exception(",
                                          "\n",
                                          "  ",
                                          "0",
                                          "-1",
                                          "1e309",
                                          "none",
                                          "'é'"};
    std::mt19937 rng(2026);
    const OrderedJson messages = OrderedJson::parse(
        R"([{"role": "system", "content": "s"}, {"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}])");
    std::vector<std::pair<std::string, std::string>> originals;  // (name, source)
    for (const auto& [name, entry] : fixture()["templates"].items()) originals.emplace_back(name, entry["source"]);
    for (const OrderedJson& f : fixture()["features"]) originals.emplace_back("feature", f["template"]);
    int rendered = 0, refused = 0;
    for (const auto& [name, original] : originals) {
        for (int round = 0; round < 60; ++round) {
            std::string source = original;
            const int edits = 1 + static_cast<int>(rng() % 4);
            for (int e = 0; e < edits; ++e) {
                const size_t at = rng() % (source.size() + 1);
                switch (rng() % 3) {
                    case 0: source.erase(at, rng() % 24); break;
                    case 1: source.insert(at, kPieces[rng() % std::size(kPieces)]); break;
                    default: {
                        const size_t from = rng() % (source.size() + 1);
                        source.insert(at, source.substr(from, rng() % 64));
                    }
                }
            }
            if (!krait::is_valid_utf8(source)) continue;
            try {
                const ChatTemplate chat = ChatTemplate::with_source(source);
                chat.render(messages, round % 2 == 0, {{"tools", fixture()["cases"][0]["messages"]}}, "", fixed_now());
                ++rendered;
            } catch (const krait::Error&) {
                ++refused;
            } catch (const std::exception& e) {
                ADD_FAILURE() << name << ": " << typeid(e).name() << ": " << e.what() << "\n" << source;
            }
        }
    }
    EXPECT_GT(rendered, 0);
    EXPECT_GT(refused, 0);
}

}  // namespace
