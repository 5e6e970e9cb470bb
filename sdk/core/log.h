// Process-wide logging behind krait_set_log_callback.
#pragma once

#include <string>

#include "krait/krait.h"

namespace krait {

void set_log_callback(krait_log_fn callback, void* user_data, krait_log_level min_level);
void log(krait_log_level level, const std::string& message);

}  // namespace krait
