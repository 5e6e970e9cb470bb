// The replaceable global allocation functions ([new.delete]) over malloc / aligned_alloc, with one
// armed failure (failing_allocator.h). Under AddressSanitizer the memory still comes from its
// malloc, so LeakSanitizer sees every block.
#include "failing_allocator.h"

#include <elf.h>
#include <execinfo.h>
#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>

namespace {

std::atomic<bool> g_counting{false};
std::atomic<int64_t> g_count{0};
std::atomic<int64_t> g_fail_at{0};
std::atomic<bool> g_fired{false};
std::atomic<int64_t> g_exempted{0};

// Address ranges of the exempt functions (set once, before any run is armed).
struct Range {
    uintptr_t begin, end;
};
constexpr int kMaxRanges = 4096;
Range g_ranges[kMaxRanges];
int g_n_ranges = 0;

// True if the current call stack passes through an exempt function.
bool called_from_exempt() noexcept {
    if (g_n_ranges == 0) return false;
    void* frames[128];
    const int n = backtrace(frames, 128);
    for (int i = 0; i < n; ++i) {
        const auto pc = reinterpret_cast<uintptr_t>(frames[i]) - 1;  // a return address: inside the call
        for (int r = 0; r < g_n_ranges; ++r)
            if (pc >= g_ranges[r].begin && pc < g_ranges[r].end) return true;
    }
    return false;
}

// True if this allocation is the one that must fail.
bool should_fail() noexcept {
    if (!g_counting.load(std::memory_order_relaxed)) return false;
    const int64_t n = g_count.fetch_add(1, std::memory_order_relaxed) + 1;
    if (n != g_fail_at.load(std::memory_order_relaxed)) return false;
    if (called_from_exempt()) {
        g_fail_at.store(n + 1, std::memory_order_relaxed);  // the next allocation fails instead
        g_exempted.fetch_add(1, std::memory_order_relaxed);
        return false;
    }
    g_fired.store(true, std::memory_order_relaxed);
    return true;
}

struct LoadedLibrary {
    const char* needle;
    const char* path = nullptr;
    uintptr_t base = 0;
};

int find_library(dl_phdr_info* info, size_t, void* data) {
    auto* lib = static_cast<LoadedLibrary*>(data);
    if (info->dlpi_name && std::strstr(info->dlpi_name, lib->needle)) {
        lib->path = info->dlpi_name;
        lib->base = info->dlpi_addr;
        return 1;
    }
    return 0;
}

void* allocate(std::size_t size, std::size_t alignment) noexcept {
    if (should_fail()) return nullptr;
    if (size == 0) size = 1;
    if (alignment <= alignof(std::max_align_t)) return std::malloc(size);
    // aligned_alloc wants a size that is a multiple of the alignment.
    return std::aligned_alloc(alignment, (size + alignment - 1) / alignment * alignment);
}

void* allocate_or_throw(std::size_t size, std::size_t alignment) {
    void* p = allocate(size, alignment);
    if (!p) throw std::bad_alloc();
    return p;
}

}  // namespace

namespace failing_allocator {

void arm(int64_t n) {
    g_count.store(0);
    g_fired.store(false);
    g_fail_at.store(n);
}

bool disarm() {
    g_counting.store(false);
    return g_fired.load();
}

Counted::Counted() { g_counting.store(true); }
Counted::~Counted() { g_counting.store(false); }

int64_t counted() { return g_count.load(); }

int64_t exempted() { return g_exempted.load(); }

int exempt_functions(const char* library, const char* const* names, int n_names) {
    LoadedLibrary lib{library};
    dl_iterate_phdr(find_library, &lib);
    if (!lib.path) return 0;
    const int fd = ::open(lib.path, O_RDONLY);
    if (fd < 0) return 0;
    struct stat st {};
    void* map = ::fstat(fd, &st) == 0 ? ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0)
                                      : MAP_FAILED;
    ::close(fd);
    if (map == MAP_FAILED) return 0;
    const auto* bytes = static_cast<const unsigned char*>(map);
    const auto* eh = reinterpret_cast<const Elf64_Ehdr*>(bytes);
    const auto* sections = reinterpret_cast<const Elf64_Shdr*>(bytes + eh->e_shoff);
    int found = 0;
    for (int i = 0; i < eh->e_shnum; ++i) {
        if (sections[i].sh_type != SHT_SYMTAB) continue;
        const auto* symbols = reinterpret_cast<const Elf64_Sym*>(bytes + sections[i].sh_offset);
        const char* strings = reinterpret_cast<const char*>(bytes + sections[sections[i].sh_link].sh_offset);
        const size_t count = sections[i].sh_size / sizeof(Elf64_Sym);
        for (size_t k = 0; k < count && g_n_ranges < kMaxRanges; ++k) {
            if (ELF64_ST_TYPE(symbols[k].st_info) != STT_FUNC || symbols[k].st_size == 0) continue;
            const char* name = strings + symbols[k].st_name;
            for (int j = 0; j < n_names; ++j) {
                if (!std::strstr(name, names[j])) continue;
                const uintptr_t begin = lib.base + symbols[k].st_value;
                g_ranges[g_n_ranges++] = {begin, begin + symbols[k].st_size};
                ++found;
                break;
            }
        }
    }
    ::munmap(map, static_cast<size_t>(st.st_size));
    void* warm[4];
    backtrace(warm, 4);  // loads libgcc's unwinder now, not inside an armed run
    return found;
}

}  // namespace failing_allocator

void* operator new(std::size_t size) { return allocate_or_throw(size, 0); }
void* operator new[](std::size_t size) { return allocate_or_throw(size, 0); }
void* operator new(std::size_t size, std::align_val_t al) { return allocate_or_throw(size, static_cast<std::size_t>(al)); }
void* operator new[](std::size_t size, std::align_val_t al) {
    return allocate_or_throw(size, static_cast<std::size_t>(al));
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return allocate(size, 0); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { return allocate(size, 0); }
void* operator new(std::size_t size, std::align_val_t al, const std::nothrow_t&) noexcept {
    return allocate(size, static_cast<std::size_t>(al));
}
void* operator new[](std::size_t size, std::align_val_t al, const std::nothrow_t&) noexcept {
    return allocate(size, static_cast<std::size_t>(al));
}

void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
