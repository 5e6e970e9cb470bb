// A replacement for the global operator new / delete (failing_allocator.cpp, linked into the
// allocation-failure test only) that can make one chosen allocation fail: the N-th call of
// operator new after arm(N) throws std::bad_alloc (the nothrow forms return nullptr), as a real
// allocation failure would. Every allocation of the program goes through it, the library's
// included (libkrait.so binds operator new to the executable's definition, as any C++ program's
// replacement does), and counting is one atomic counter, so a run is reproducible only when one
// thread allocates: the test's sessions use one thread.
#pragma once

#include <cstdint>

namespace failing_allocator {

// Sets up a run: the n-th (1-based) allocation counted from now fails; n <= 0 counts without failing.
// Only allocations made inside a Counted scope count (the call under test, not the test's own code).
void arm(int64_t n);

// Ends the run. Returns true if the armed allocation was reached (and failed).
bool disarm();

// The scope of one call under test: its allocations count (on every thread).
class Counted {
public:
    Counted();
    ~Counted();
    Counted(const Counted&) = delete;
    Counted& operator=(const Counted&) = delete;
};

// Allocations counted since the last arm().
int64_t counted();

// Allocations that were due to fail but were let through because they came from a function named in
// exempt_functions() (the next allocation failed instead), since the program started.
int64_t exempted();

// Never fail an allocation made (directly or through callees) by a function of the loaded library
// whose file name contains `library` and whose mangled name contains one of `names`; looked up in
// the library's symbol table (.symtab, kept by unstripped builds). Returns how many functions were
// found. For third-party code that allocates where it cannot report a failure: nlohmann::json's
// destructor flattens nested values into a std::vector, so an allocation failure there terminates.
int exempt_functions(const char* library, const char* const* names, int n_names);

}  // namespace failing_allocator
