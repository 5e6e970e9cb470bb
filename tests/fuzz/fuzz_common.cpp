#include "fuzz_common.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <new>
#include <sstream>
#include <stdexcept>

#include "sdk/core/error.h"
#include "sdk/core/utf8.h"

#ifndef KRAIT_FUZZ_SOURCE_DIR
#define KRAIT_FUZZ_SOURCE_DIR "."
#endif

namespace krait_fuzz {
namespace fs = std::filesystem;

const std::string& source_dir() {
    static const std::string dir = [] {
        const char* env = std::getenv("KRAIT_SOURCE_DIR");
        return std::string(env && *env ? env : KRAIT_FUZZ_SOURCE_DIR);
    }();
    return dir;
}

std::string source_path(const std::string& relative) { return source_dir() + "/" + relative; }

namespace {
std::string g_scratch;
void remove_scratch() {
    std::error_code ec;
    if (!g_scratch.empty()) fs::remove_all(g_scratch, ec);
}
}  // namespace

const std::string& scratch_dir() {
    if (g_scratch.empty()) {
        std::string base;
        if (const char* t = std::getenv("TMPDIR"); t && *t) base = t;
        else if (::access("/dev/shm", W_OK) == 0) base = "/dev/shm";
        else base = "/tmp";
        g_scratch = base + "/krait-fuzz-" + std::to_string(::getpid());
        fs::create_directories(g_scratch);
        std::atexit(remove_scratch);
    }
    return g_scratch;
}

void write_file(const std::string& path, const void* data, size_t size) {
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) {
        std::perror(path.c_str());
        std::abort();
    }
    if (size && std::fwrite(data, 1, size, f) != size) std::abort();
    std::fclose(f);
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        std::fprintf(stderr, "krait fuzz: cannot read %s (set KRAIT_SOURCE_DIR to the source tree)\n", path.c_str());
        std::abort();
    }
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void run(const char* what, const std::function<void()>& body) {
    try {
        body();
    } catch (const krait::Error& e) {
        const std::string message = e.what();
        if (message.empty() || !krait::is_valid_utf8(message)) {
            std::fprintf(stderr, "krait fuzz (%s): krait::Error with an empty or non-UTF-8 message\n", what);
            std::abort();
        }
    } catch (const std::invalid_argument&) {
        // kernels/cpu's precondition checks (kernel_error.h).
    } catch (const std::exception& e) {
        std::fprintf(stderr, "krait fuzz (%s): an exception other than krait::Error escaped: %s\n", what, e.what());
        std::abort();
    }
}

}  // namespace krait_fuzz
