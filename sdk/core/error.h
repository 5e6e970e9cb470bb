// krait::Error — the one exception type used inside the SDK.
//
// Every failure inside sdk/ and kernels/ throws krait::Error carrying a status
// code from the public ABI (krait_status) and a message that names the problem
// ("model.safetensors: tensor 'backbone.norm_f.weight' has shape [7], expected [768]").
// The C entry points in abi/src catch it (and anything else) and turn it into a
// status plus the per-thread last-error message. No exception crosses the ABI.
//
// Messages are valid UTF-8 by construction: the constructor passes the message through
// printable_utf8 (sdk/core/utf8.h), so bytes quoted from a damaged file or a caller's string can
// never make krait_last_error() return something a UTF-8 consumer cannot decode. Call sites quote
// input with krait::quote(), which also escapes quotes and control characters and cuts long input.
#pragma once

#include <stdexcept>
#include <string>

#include "krait/krait.h"
#include "sdk/core/utf8.h"

namespace krait {

class Error : public std::runtime_error {
public:
    Error(krait_status status, const std::string& message)
        : std::runtime_error(printable_utf8(message)), status_(status) {}
    krait_status status() const noexcept { return status_; }

private:
    krait_status status_;
};

// Shorthands so call sites read as what went wrong, not as plumbing.
[[noreturn]] inline void fail(krait_status status, const std::string& message) {
    throw Error(status, message);
}
[[noreturn]] inline void fail_format(const std::string& message) { fail(KRAIT_ERR_FORMAT, message); }
[[noreturn]] inline void fail_argument(const std::string& message) { fail(KRAIT_ERR_INVALID_ARGUMENT, message); }
[[noreturn]] inline void fail_io(const std::string& message) { fail(KRAIT_ERR_IO, message); }
[[noreturn]] inline void fail_unsupported(const std::string& message) { fail(KRAIT_ERR_UNSUPPORTED, message); }

}  // namespace krait
