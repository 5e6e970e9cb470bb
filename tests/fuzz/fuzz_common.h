// Shared helpers of the libFuzzer harnesses (tests/fuzz/*_fuzz.cpp, docs/RELIABILITY.md "Fuzzing").
//
// The outcome rules of every harness: returning normally or throwing krait::Error (the SDK's
// refusal of bad input, any status) is fine; anything else is a finding and stops the fuzzer:
// an ASan / UBSan report, a crash, a timeout or an out-of-memory (libFuzzer's -timeout,
// -rss_limit_mb and -malloc_limit_mb: an allocation sized by a lying field), a krait::Error whose
// message is not valid UTF-8, and any other exception escaping the SDK (std::out_of_range,
// nlohmann::json's exceptions, ... which the C ABI could only report as KRAIT_ERR_INTERNAL).
// std::invalid_argument from kernels/ (their documented precondition checks) is accepted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace krait_fuzz {

// The source tree (fixtures of tests/fixtures, models/), fixed at build time; the environment
// variable KRAIT_SOURCE_DIR overrides it.
const std::string& source_dir();
// "<source_dir>/<relative>".
std::string source_path(const std::string& relative);

// A directory of this process (under $TMPDIR, else /dev/shm when writable, else /tmp), removed at exit.
const std::string& scratch_dir();

void write_file(const std::string& path, const void* data, size_t size);
inline void write_file(const std::string& path, std::string_view text) { write_file(path, text.data(), text.size()); }
std::string read_file(const std::string& path);

// Runs `body` under the outcome rules above.
void run(const char* what, const std::function<void()>& body);

}  // namespace krait_fuzz
