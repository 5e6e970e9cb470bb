// `krait chat` end to end: the built CLI run under a pseudo-terminal (forkpty, as a person at a
// terminal runs it: libedit's prompt, commands, Ctrl-C, Ctrl-D), with stdin a pipe, and one-shot
// (-p). Every reply expected is computed here, at run time, from the library through the C ABI
// (the chat template rendered with krait_model_apply_chat_template, then greedy generation from a
// fresh session), never written down: the CLI must give, turn after turn, exactly the reply a
// fresh session gives for the same messages.
//
// Timeouts are deadlock guards only (generous); nothing here measures time.
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "krait/krait.h"

#ifndef KRAIT_CLI_PATH
#error "KRAIT_CLI_PATH: the built krait CLI"
#endif

namespace {

namespace fs = std::filesystem;
using Messages = std::vector<std::pair<std::string, std::string>>;  // (role, content)

constexpr int kMaxNewTokens = 48;
constexpr int kDeadlineSeconds = 120;

const char* const kChatModel = "models/chat-demo";
const char* const kMambaModel = "models/mamba-demo";
// The demo conversation (tools/demo.sh) and follow-ups the shop assistant was trained on.
const char* const kQ1 = "How much is the red teapot?";
const char* const kQ2 = "And how many are in stock?";
const char* const kQ3 = "What about the blue one?";

// A plain template for a model that has none (mamba-demo).
const char* const kPlainTemplate =
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}";

std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (const unsigned char c : s) {
        if (c == '"' || c == '\\') out += std::string("\\") + static_cast<char>(c);
        else if (c == '\n') out += "\\n";
        else if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else out += static_cast<char>(c);
    }
    return out + "\"";
}

int collect_piece(int32_t, const char* piece, size_t len, void* user) {
    static_cast<std::string*>(user)->append(piece, len);
    return 0;
}

// The reply a fresh session gives, greedy, to `messages` rendered with the model's template
// (or `tmpl`): what the CLI must print.
std::string library_reply(const char* model_dir, const Messages& messages, const char* tmpl = nullptr,
                          const char* adapter_dir = nullptr, int max_new_tokens = kMaxNewTokens) {
    krait_model* model = nullptr;
    EXPECT_EQ(krait_model_load(model_dir, nullptr, &model), KRAIT_OK) << krait_last_error();
    if (!model) return "<no model>";
    std::string json = "[";
    for (size_t i = 0; i < messages.size(); ++i) {
        if (i) json += ',';
        json += "{\"role\":";  // appended piece by piece: GCC 12's -Wrestrict misfires on "x" + std::string
        json += json_string(messages[i].first);
        json += ",\"content\":";
        json += json_string(messages[i].second);
        json += '}';
    }
    json += "]";
    size_t n = 0;
    krait_model_apply_chat_template(model, json.c_str(), 1, nullptr, tmpl, nullptr, 0, &n);
    std::string text(n, '\0');
    EXPECT_EQ(krait_model_apply_chat_template(model, json.c_str(), 1, nullptr, tmpl, text.data(), n, &n), KRAIT_OK)
        << krait_last_error();
    const krait_tokenizer* tok = nullptr;
    EXPECT_EQ(krait_model_get_tokenizer(model, &tok), KRAIT_OK);
    std::vector<int32_t> ids(text.size() + 8);
    EXPECT_EQ(krait_tokenizer_encode(tok, text.data(), text.size(), 0, ids.data(), ids.size(), &n), KRAIT_OK);
    ids.resize(n);
    krait_session_params sp;
    krait_session_params_init(&sp);
    sp.n_threads = 1;
    krait_session* session = nullptr;
    EXPECT_EQ(krait_session_create(model, &sp, &session), KRAIT_OK) << krait_last_error();
    krait_adapter* adapter = nullptr;
    if (adapter_dir) {
        EXPECT_EQ(krait_adapter_load(model, adapter_dir, nullptr, &adapter), KRAIT_OK) << krait_last_error();
        const krait_adapter* active[] = {adapter};
        const float scales[] = {1.0f};
        EXPECT_EQ(krait_session_set_adapters(session, active, scales, 1), KRAIT_OK) << krait_last_error();
    }
    krait_generate_params gp;
    krait_generate_params_init(&gp);
    gp.max_new_tokens = max_new_tokens;
    gp.sampling.temperature = 0.0f;
    std::string reply;
    gp.on_token = collect_piece;
    gp.user_data = &reply;
    std::vector<int32_t> out(static_cast<size_t>(max_new_tokens));
    EXPECT_EQ(krait_session_generate(session, ids.data(), ids.size(), &gp, out.data(), out.size(), &n), KRAIT_OK)
        << krait_last_error();
    krait_session_free(session);
    krait_adapter_free(adapter);
    krait_model_free(model);
    return reply;
}

// Terminal output as text: no carriage returns, no escape sequences (colours, cursor moves).
std::string plain(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (c == '\r' || c == '\a') continue;
        if (c == '\033') {
            if (i + 1 < s.size() && s[i + 1] == '[') {
                i += 2;
                while (i < s.size() && !(s[i] >= 0x40 && s[i] <= 0x7e)) ++i;
            } else {
                ++i;
            }
            continue;
        }
        out += c;
    }
    return out;
}

std::vector<std::string> chat_args(const std::string& model, std::vector<std::string> more) {
    std::vector<std::string> args = {KRAIT_CLI_PATH, "chat", "-m", model, "--temperature", "0", "--threads", "1",
                                     "-n", std::to_string(kMaxNewTokens)};
    args.insert(args.end(), more.begin(), more.end());
    return args;
}

[[noreturn]] void exec_args(const std::vector<std::string>& args) {
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    std::perror("execv");
    _exit(127);
}

// Waits for the child; -1 if it does not end before the deadline (it is then killed).
int wait_exit(pid_t pid, int seconds) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    for (;;) {
        int status = 0;
        const pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (std::chrono::steady_clock::now() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        usleep(10000);
    }
}

// The CLI on a pseudo-terminal: what it writes (stdout and stderr, as on a terminal) is read
// into `out_`; expect() waits for a text after what the previous expect() consumed.
class Terminal {
public:
    explicit Terminal(const std::vector<std::string>& args, const std::string& home) {
        struct winsize ws = {};
        ws.ws_row = 50;
        ws.ws_col = 200;
        pid_ = forkpty(&master_, nullptr, nullptr, &ws);
        if (pid_ == 0) {
            setenv("TERM", "xterm", 1);
            setenv("HOME", home.c_str(), 1);
            setenv("XDG_STATE_HOME", (home + "/state").c_str(), 1);
            exec_args(args);
        }
    }
    ~Terminal() {
        if (pid_ > 0) wait_exit(pid_, 0);
        if (master_ >= 0) close(master_);
    }
    bool started() const { return pid_ > 0 && master_ >= 0; }

    // Types `text` at the prompt. libedit writes its prompt before it switches the terminal to raw
    // mode: a Ctrl-D typed in between (canonical mode) would be lost in the switch, so this waits
    // for the switch (the master shares the terminal's settings) before typing.
    void type(const std::string& text) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kDeadlineSeconds);
        termios tio{};
        while (tcgetattr(master_, &tio) == 0 && (tio.c_lflag & ICANON) && std::chrono::steady_clock::now() < deadline)
            usleep(1000);
        send(text);
    }

    void send(const std::string& text) {
        size_t done = 0;
        while (done < text.size()) {
            const ssize_t n = write(master_, text.data() + done, text.size() - done);
            if (n <= 0) return;
            done += static_cast<size_t>(n);
        }
    }

    // Reads until `needle` appears in the (plain) output after the last expect(); returns that
    // output up to and including the needle, and consumes it. Fails the test on a timeout or EOF.
    std::string expect(const std::string& needle) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kDeadlineSeconds);
        for (;;) {
            const std::string text = plain(out_);
            const size_t at = text.find(needle, consumed_);
            if (at != std::string::npos) {
                const std::string part = text.substr(consumed_, at + needle.size() - consumed_);
                consumed_ = at + needle.size();
                return part;
            }
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0 || !read_some(static_cast<int>(left.count()))) {
                ADD_FAILURE() << "waiting for '" << needle << "', the terminal shows after the last match:\n"
                              << text.substr(consumed_);
                return "";
            }
        }
    }

    // Reads to the end of the output, then the exit status (-1: it did not end).
    int finish() {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kDeadlineSeconds);
        while (std::chrono::steady_clock::now() < deadline && read_some(1000)) {
        }
        const int status = wait_exit(pid_, kDeadlineSeconds);
        pid_ = -1;
        return status;
    }

    std::string rest() const { return plain(out_).substr(consumed_); }

    // Waits until something more than what expect() consumed is shown.
    void expect_more() {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kDeadlineSeconds);
        while (plain(out_).size() <= consumed_) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0 || !read_some(static_cast<int>(left.count()))) {
                ADD_FAILURE() << "no more output";
                return;
            }
        }
    }

private:
    // False at the end of the output (the child closed the terminal) or on a timeout.
    bool read_some(int timeout_ms) {
        pollfd p{master_, POLLIN, 0};
        if (poll(&p, 1, timeout_ms) <= 0) return false;
        char buf[4096];
        const ssize_t n = read(master_, buf, sizeof buf);
        if (n <= 0) return false;  // EIO once the child has exited
        out_.append(buf, static_cast<size_t>(n));
        return true;
    }

    pid_t pid_ = -1;
    int master_ = -1;
    std::string out_;
    size_t consumed_ = 0;
};

struct Piped {
    int status = -1;
    std::string out, err;
};

// The CLI with stdin a pipe (fed `input`, then closed), stdout and stderr captured.
Piped run_piped(const std::vector<std::string>& args, const std::string& input) {
    int in[2], out[2], err[2];
    if (pipe(in) != 0 || pipe(out) != 0 || pipe(err) != 0) return {};
    const pid_t pid = fork();
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1]}) close(fd);
        setenv("XDG_STATE_HOME", "/nonexistent-krait-test", 1);
        exec_args(args);
    }
    close(in[0]);
    close(out[1]);
    close(err[1]);
    signal(SIGPIPE, SIG_IGN);
    if (!input.empty() && write(in[1], input.data(), input.size()) != static_cast<ssize_t>(input.size()))
        ADD_FAILURE() << "writing the input failed";
    close(in[1]);
    Piped r;
    pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    int open_fds = 2;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kDeadlineSeconds);
    while (open_fds > 0 && std::chrono::steady_clock::now() < deadline) {
        if (poll(fds, 2, 1000) <= 0) continue;
        for (int k = 0; k < 2; ++k) {
            if (fds[k].fd < 0 || !(fds[k].revents & (POLLIN | POLLHUP))) continue;
            char buf[4096];
            const ssize_t n = read(fds[k].fd, buf, sizeof buf);
            if (n <= 0) {
                close(fds[k].fd);
                fds[k].fd = -1;
                --open_fds;
            } else {
                (k == 0 ? r.out : r.err).append(buf, static_cast<size_t>(n));
            }
        }
    }
    for (auto& f : fds)
        if (f.fd >= 0) close(f.fd);
    r.status = wait_exit(pid, kDeadlineSeconds);
    return r;
}

class ChatCli : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("krait_chat_cli_" + std::to_string(getpid()) + "_" +
                                             ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }
    fs::path dir_;
};

// What the terminal shows for one reply: the reply's text on lines of its own, then the statistics.
void expect_reply(Terminal& t, const std::string& reply) {
    const std::string shown = t.expect("tok/s");
    EXPECT_NE(shown.find("\n" + reply + "\n"), std::string::npos) << "expected the reply\n" << reply << "\nin\n" << shown;
    t.expect("> ");
}

TEST_F(ChatCli, TerminalTurnsUndoRegenerateResetQuit) {
    ASSERT_TRUE(fs::exists(KRAIT_CLI_PATH)) << KRAIT_CLI_PATH;
    const std::string r1 = library_reply(kChatModel, {{"user", kQ1}});
    const std::string r2 = library_reply(kChatModel, {{"user", kQ1}, {"assistant", r1}, {"user", kQ2}});
    const std::string r3 = library_reply(kChatModel, {{"user", kQ1}, {"assistant", r1}, {"user", kQ3}});
    const std::string r2_alone = library_reply(kChatModel, {{"user", kQ2}});
    const std::string r4 = library_reply(
        kChatModel, {{"user", kQ1}, {"assistant", r1}, {"user", kQ3}, {"assistant", r3}, {"user", kQ2}});
    ASSERT_FALSE(r1.empty());
    ASSERT_NE(r2, r3);  // /undo must show

    const std::string history = (dir_ / "history").string();
    Terminal t(chat_args(kChatModel, {"--history", history}), dir_.string());
    ASSERT_TRUE(t.started());
    t.expect("/help");  // the banner
    t.expect("> ");
    t.type(std::string(kQ1) + "\r");
    expect_reply(t, r1);

    t.type("/regenerate\r");  // greedy: the same reply
    expect_reply(t, r1);

    t.type(std::string(kQ2) + "\r");
    expect_reply(t, r2);

    t.type("/undo\r");
    t.expect("taken back");
    t.expect("> ");
    t.type(std::string(kQ3) + "\r");  // follows the first turn, not the second
    expect_reply(t, r3);

    // Saved, forgotten, loaded back: the conversation goes on from where it was saved.
    const std::string saved_path = (dir_ / "conversation.krait").string();
    t.type("/save " + saved_path + "\r");
    t.expect("saved");
    t.expect("> ");
    t.type("/reset\r");
    t.expect("cleared");
    t.expect("> ");
    t.type("/load " + saved_path + "\r");
    t.expect("loaded");
    t.expect("> ");
    t.type(std::string(kQ2) + "\r");
    expect_reply(t, r4);

    t.type("\x03");  // Ctrl-C at the prompt: the chat goes on
    t.type("/reset\r");
    t.expect("cleared");
    t.expect("> ");
    t.type(std::string(kQ2) + "\r");
    expect_reply(t, r2_alone);

    t.type("/frobnicate\r");
    const std::string unknown = t.expect("> ");
    EXPECT_NE(unknown.find("unknown command '/frobnicate'"), std::string::npos) << unknown;
    EXPECT_NE(unknown.find("/help"), std::string::npos) << unknown;

    t.type("/help\r");
    const std::string help = t.expect("/quit");
    for (const char* c : {"/reset", "/undo", "/regenerate", "/system", "/save", "/load", "/adapter"})
        EXPECT_NE(help.find(c), std::string::npos) << c;
    t.expect("> ");

    t.type("/quit\r");
    EXPECT_EQ(t.finish(), 0) << t.rest();

    // libedit kept the lines typed.
    std::ifstream in(history);
    const std::string saved((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_NE(saved.find("teapot"), std::string::npos) << saved;
}

TEST_F(ChatCli, TerminalCtrlDExits) {
    Terminal t(chat_args(kChatModel, {"--no-history"}), dir_.string());
    ASSERT_TRUE(t.started());
    t.expect("> ");
    t.type("\x04");
    EXPECT_EQ(t.finish(), 0) << t.rest();
}

TEST_F(ChatCli, TerminalCtrlCStopsTheReplyNotTheChat) {
    // mamba-demo with a plain template writes on and on (a reply of up to a million tokens): Ctrl-C
    // once it has started stops it, and the chat goes on without that turn.
    const std::string tmpl_path = (dir_ / "plain.jinja").string();
    std::ofstream(tmpl_path) << kPlainTemplate;
    std::vector<std::string> args = chat_args(kMambaModel, {"--template", tmpl_path, "--no-history"});
    args[std::find(args.begin(), args.end(), "-n") - args.begin() + 1] = "1000000";
    Terminal t(args, dir_.string());
    ASSERT_TRUE(t.started());
    t.expect("> ");
    t.type("This module provides\r");
    t.expect("This module provides\n");
    t.expect_more();  // the reply has begun
    t.send("\x03");
    t.expect("interrupted");
    t.expect("> ");
    t.type("/history\r");
    const std::string history = t.expect("> ");
    EXPECT_NE(history.find("the conversation is empty"), std::string::npos) << history;
    t.type("/quit\r");
    EXPECT_EQ(t.finish(), 0) << t.rest();
}

TEST_F(ChatCli, OneShotGivesTheLibrarysReply) {
    const std::string r1 = library_reply(kChatModel, {{"user", kQ1}});
    const Piped r = run_piped(chat_args(kChatModel, {"-p", kQ1}), "");
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, r1 + "\n") << r.err;
    EXPECT_NE(r.err.find("tok/s"), std::string::npos) << r.err;

    // With a system prompt, the model's template renders it first.
    const std::string sys = "You are the shop assistant.";
    const Piped s = run_piped(chat_args(kChatModel, {"--system", sys, "-p", kQ1}), "");
    EXPECT_EQ(s.status, 0) << s.err;
    EXPECT_EQ(s.out, library_reply(kChatModel, {{"system", sys}, {"user", kQ1}}) + "\n") << s.err;
}

TEST_F(ChatCli, PipedLinesAreTurnsAndCommands) {
    const std::string r1 = library_reply(kChatModel, {{"user", kQ1}});
    const std::string r2 = library_reply(kChatModel, {{"user", kQ1}, {"assistant", r1}, {"user", kQ2}});
    const std::string r3 = library_reply(kChatModel, {{"user", kQ1}, {"assistant", r1}, {"user", kQ3}});
    const Piped r = run_piped(chat_args(kChatModel, {}),
                            std::string(kQ1) + "\n" + kQ2 + "\n/undo\n" + kQ3 + "\n/regenerate\n");
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, r1 + "\n" + r2 + "\n" + r3 + "\n" + r3 + "\n") << r.err;

    // A line that fails (an unknown command) makes the exit status 1; the chat goes on.
    const Piped u = run_piped(chat_args(kChatModel, {}), "/nope\n" + std::string(kQ1) + "\n");
    EXPECT_EQ(u.status, 1) << u.err;
    EXPECT_NE(u.err.find("unknown command '/nope'"), std::string::npos) << u.err;
    EXPECT_EQ(u.out, r1 + "\n");
}

TEST_F(ChatCli, SavedConversationsContinueInAnotherProcess) {
    const std::string r1 = library_reply(kChatModel, {{"user", kQ1}});
    const std::string r2 = library_reply(kChatModel, {{"user", kQ1}, {"assistant", r1}, {"user", kQ2}});
    const std::string path = (dir_ / "conversation.krait").string();
    const Piped first = run_piped(chat_args(kChatModel, {}), std::string(kQ1) + "\n/save " + path + "\n");
    EXPECT_EQ(first.status, 0) << first.err;
    EXPECT_EQ(first.out, r1 + "\n");
    const Piped second = run_piped(chat_args(kChatModel, {}), "/load " + path + "\n/history\n" + kQ2 + "\n");
    EXPECT_EQ(second.status, 0) << second.err;
    EXPECT_EQ(second.out, "user: " + std::string(kQ1) + "\nassistant: " + r1 + "\n" + r2 + "\n") << second.err;

    // A damaged file and a missing one are refused with the library's message; the chat goes on.
    {
        std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(-3, std::ios::end);
        f.put('\x5a');
    }
    const Piped damaged = run_piped(chat_args(kChatModel, {}),
                                    "/load " + path + "\n/load " + (dir_ / "missing").string() + "\n" + kQ1 + "\n");
    EXPECT_EQ(damaged.status, 1);
    EXPECT_NE(damaged.err.find("krait: error:"), std::string::npos) << damaged.err;
    EXPECT_NE(damaged.err.find("missing"), std::string::npos) << damaged.err;
    EXPECT_EQ(damaged.out, r1 + "\n") << damaged.err;  // a fresh conversation, as before the failed loads
}

TEST_F(ChatCli, ModelWithoutTemplateTakesTemplateFile) {
    // mamba-demo ships no chat template: refused with a message, then fine with --template.
    const Piped refused = run_piped(chat_args(kMambaModel, {"-p", "Hello"}), "");
    EXPECT_EQ(refused.status, 1);
    EXPECT_NE(refused.err.find("--template FILE"), std::string::npos) << refused.err;

    const std::string tmpl_path = (dir_ / "plain.jinja").string();
    std::ofstream(tmpl_path) << kPlainTemplate;
    const std::string q1 = "This module provides", q2 = "The";
    const std::string r1 = library_reply(kMambaModel, {{"user", q1}}, kPlainTemplate);
    const std::string r2 = library_reply(kMambaModel, {{"user", q1}, {"assistant", r1}, {"user", q2}}, kPlainTemplate);
    const Piped r = run_piped(chat_args(kMambaModel, {"--template", tmpl_path}), q1 + "\n" + q2 + "\n");
    EXPECT_EQ(r.status, 0) << r.err;
    const auto line = [](const std::string& s) { return s.empty() || s.back() != '\n' ? s + "\n" : s; };
    EXPECT_EQ(r.out, line(r1) + line(r2)) << r.err;
}

TEST_F(ChatCli, AdapterCommandSwitchesAdapters) {
    const char* const adapter = "models/mamba-demo-lora-licenses";
    const std::string tmpl_path = (dir_ / "plain.jinja").string();
    std::ofstream(tmpl_path) << kPlainTemplate;
    const std::string q = "This module provides";
    const int n = 12;
    const std::string with = library_reply(kMambaModel, {{"user", q}}, kPlainTemplate, adapter, n);
    const std::string base = library_reply(kMambaModel, {{"user", q}}, kPlainTemplate, nullptr, n);
    ASSERT_NE(with, base);
    // --adapter makes it active from the start; /adapter off, then by folder, switch within one chat
    // (the same question asked again after /undo, so each reply follows the same prompt).
    const Piped r = run_piped(chat_args(kMambaModel, {"--template", tmpl_path, "-n", std::to_string(n), "--adapter", adapter}),
                              q + "\n/undo\n/adapter off\n" + q + "\n/undo\n/adapter " + adapter + "\n" + q + "\n/adapter\n");
    EXPECT_EQ(r.status, 0) << r.err;
    const auto line = [](const std::string& s) { return s.empty() || s.back() != '\n' ? s + "\n" : s; };
    EXPECT_EQ(r.out, line(with) + line(base) + line(with)) << r.err;
    EXPECT_NE(r.err.find("* mamba-demo-lora-licenses"), std::string::npos) << r.err;  // the listing marks the active one

    const Piped bad = run_piped(chat_args(kMambaModel, {"--template", tmpl_path}), "/adapter no-such-adapter\n");
    EXPECT_EQ(bad.status, 1);
    EXPECT_NE(bad.err.find("no-such-adapter"), std::string::npos) << bad.err;
}

TEST_F(ChatCli, UsageErrors) {
    const Piped no_model = run_piped({KRAIT_CLI_PATH, "chat"}, "");
    EXPECT_EQ(no_model.status, 2);
    const Piped help = run_piped({KRAIT_CLI_PATH, "chat", "--help"}, "");
    EXPECT_EQ(help.status, 0);
    EXPECT_NE(help.out.find("/regenerate"), std::string::npos) << help.out;
    EXPECT_NE(help.out.find("--template"), std::string::npos) << help.out;
}

}  // namespace

// ---- pictures: a vision-language assistant (the tiny LLaVA of tests/fixtures/llava/llava_chat) ----------

// The library's reply to one user message with a picture (krait_conversation_say_images).
std::string library_reply_with_picture(const char* model_dir, const char* image, const char* question) {
    krait_model* model = nullptr;
    EXPECT_EQ(krait_model_load(model_dir, nullptr, &model), KRAIT_OK) << krait_last_error();
    if (!model) return "<no model>";
    size_t n = 0;
    EXPECT_EQ(krait_model_preprocess_image_file(model, image, nullptr, 0, &n), KRAIT_OK) << krait_last_error();
    std::vector<float> pixels(n);
    EXPECT_EQ(krait_model_preprocess_image_file(model, image, pixels.data(), n, &n), KRAIT_OK);
    krait_model_info info{};
    info.struct_size = sizeof info;
    EXPECT_EQ(krait_model_get_info(model, &info), KRAIT_OK);
    krait_session_params sp;
    krait_session_params_init(&sp);
    sp.n_threads = 1;
    krait_session* session = nullptr;
    EXPECT_EQ(krait_session_create(model, &sp, &session), KRAIT_OK) << krait_last_error();
    krait_conversation* conv = nullptr;
    EXPECT_EQ(krait_conversation_create(session, nullptr, nullptr, nullptr, &conv), KRAIT_OK) << krait_last_error();
    krait_generate_params gp;
    krait_generate_params_init(&gp);
    gp.max_new_tokens = kMaxNewTokens;
    gp.sampling.temperature = 0.0f;
    EXPECT_EQ(krait_conversation_say_images(conv, question, pixels.data(), 1, info.image_height, info.image_width, &gp),
              KRAIT_OK)
        << krait_last_error();
    const char* role = nullptr;
    const char* content = nullptr;
    EXPECT_EQ(krait_conversation_get_message(conv, 1, &role, &content), KRAIT_OK);
    const std::string reply = content ? content : "";
    krait_conversation_free(conv);
    krait_session_free(session);
    krait_model_free(model);
    return reply;
}

TEST_F(ChatCli, PicturesGoWithTheFirstMessageOrTheNext) {
    const char* llava = "tests/fixtures/llava/llava_chat";
    const char* photo = "tests/fixtures/images/samples/photo_300x199.png";
    const char* question = "What colour is the big shape in this picture?";
    const std::string want = library_reply_with_picture(llava, photo, question);
    ASSERT_FALSE(want.empty());
    const Piped once = run_piped(chat_args(llava, {"--image", photo, "-p", question}), "");
    EXPECT_EQ(once.status, 0) << once.err;
    EXPECT_EQ(once.out, want + "\n") << once.err;

    // Piped: /image, then the question; the reply is the same.
    std::string lines = "/image ";
    lines += photo;
    lines += '\n';
    lines += question;
    lines += '\n';
    const Piped piped = run_piped(chat_args(llava, {}), lines);
    EXPECT_EQ(piped.status, 0) << piped.err;
    EXPECT_EQ(piped.out, want + "\n") << piped.err;

    // A file that is not a picture: an error naming it, the chat goes on.
    const Piped bad = run_piped(chat_args(llava, {}), "/image no/such/picture.png\n");
    EXPECT_NE(bad.status, 0);
    EXPECT_NE(bad.err.find("no/such/picture.png"), std::string::npos) << bad.err;

    // Pictures need an assistant.
    const Piped text_model = run_piped(chat_args(kChatModel, {"--image", photo, "-p", kQ1}), "");
    EXPECT_NE(text_model.status, 0);
    EXPECT_NE(text_model.err.find("vision-language assistant"), std::string::npos) << text_model.err;
}

// A composite assistant (MambaVision + Mamba, pictures before the text) through the same commands.
TEST_F(ChatCli, ACompositeAssistantAnswersAboutAPicture) {
    const char* composite = "tests/fixtures/composite/mamba_chat";
    const char* photo = "tests/fixtures/images/samples/photo_300x199.png";
    const char* question = "What colour is it?";
    const std::string want = library_reply_with_picture(composite, photo, question);
    const Piped once = run_piped(chat_args(composite, {"--image", photo, "-p", question}), "");
    EXPECT_EQ(once.status, 0) << once.err;
    EXPECT_EQ(once.out, want + "\n") << once.err;
}
