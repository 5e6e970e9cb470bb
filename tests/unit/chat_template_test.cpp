// Chat templates rendered as transformers renders them, and the Jinja interpreter behind them.
//
// tests/fixtures/chat/chat_templates.json comes from tools/gen_chat_template_fixtures.py: the chat
// templates of widely used model families, conversations (with and without system messages,
// non-ASCII and empty content, content as parts, tools and tool calls, conversations the templates
// refuse) and what transformers' apply_chat_template(tokenize=False) renders for each, or the error
// it raises; plus small one-feature templates rendered by Jinja in transformers' environment.
// Every rendering must match byte for byte.
#include "sdk/chat/chat_template.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "sdk/chat/jinja.h"
#include "sdk/core/error.h"

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

krait::jinja::Dict variables_of(const OrderedJson& object) {
    return Value::from_json(object).as_dict();
}

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

TEST(ChatTemplateFixtures, EveryFeatureMatchesJinja) {
    for (const OrderedJson& f : fixture()["features"]) {
        const std::string source = f["template"].get<std::string>();
        SCOPED_TRACE(source);
        const auto run = [&] { return render(source, f["variables"]); };
        if (f.contains("expected")) {
            std::string got;
            try {
                got = run();
            } catch (const std::exception& e) {
                ADD_FAILURE() << "failed: " << e.what();
                continue;
            }
            EXPECT_EQ(got, f["expected"].get<std::string>());
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
}

}  // namespace
