#include "cache/page_memory.h"

#include <sys/mman.h>

#include <new>
#include <utility>

namespace tapflow::cache {

PageMemory::PageMemory(std::size_t bytes) : size_(bytes) {
  if (bytes == 0) return;
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  // Only a hint: without transparent huge pages the mapping works the same, with 4 KiB pages.
  ::madvise(p, bytes, MADV_HUGEPAGE);
  data_ = p;
}

PageMemory::~PageMemory() {
  if (data_ != nullptr) ::munmap(data_, size_);
}

PageMemory::PageMemory(PageMemory&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

PageMemory& PageMemory::operator=(PageMemory&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) ::munmap(data_, size_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

}  // namespace tapflow::cache
