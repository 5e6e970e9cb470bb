#include "sdk/core/log.h"

#include "sdk/core/utf8.h"

#include <cstdio>
#include <mutex>

namespace krait {

namespace {
struct LogSink {
    std::mutex mutex;
    krait_log_fn callback = nullptr;
    void* user_data = nullptr;
    krait_log_level min_level = KRAIT_LOG_WARN;
};
LogSink& sink() {
    static LogSink s;
    return s;
}
const char* level_name(krait_log_level level) {
    switch (level) {
        case KRAIT_LOG_DEBUG: return "debug";
        case KRAIT_LOG_INFO: return "info";
        case KRAIT_LOG_WARN: return "warning";
        case KRAIT_LOG_ERROR: return "error";
        default: return "log";
    }
}
}  // namespace

void set_log_callback(krait_log_fn callback, void* user_data, krait_log_level min_level) {
    std::lock_guard<std::mutex> lock(sink().mutex);
    sink().callback = callback;
    sink().user_data = user_data;
    sink().min_level = callback ? min_level : KRAIT_LOG_WARN;
}

void log(krait_log_level level, const std::string& message) {
    krait_log_fn callback;
    void* user_data;
    {
        std::lock_guard<std::mutex> lock(sink().mutex);
        if (level < sink().min_level) return;
        callback = sink().callback;
        user_data = sink().user_data;
    }
    // Log lines quote paths and names from the outside too: the callback gets valid UTF-8.
    const std::string text = printable_utf8(message);
    if (callback) callback(level, text.c_str(), user_data);
    else std::fprintf(stderr, "krait %s: %s\n", level_name(level), text.c_str());
}

}  // namespace krait
