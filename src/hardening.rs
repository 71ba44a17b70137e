//! What both binaries do first (contracts `SEC-004`, `CLI-007`, `CLI-008`, `FILE-018`): no
//! core dump can hold a token or a value, standard streams that were closed cannot be
//! confused with a file or a socket, a file-size limit is an error rather than a kill, and
//! SIGINT/SIGTERM/SIGHUP remove the temporary file before the process exits.

use nix::libc;

/// Hardens the process. Call it first thing in `main`, before any thread is started or any
/// secret is read. Each step is best effort: none can fail in a way that makes the run less
/// safe than without it.
pub fn harden() {
    standard_streams_open();
    no_core_dumps();
    // With RLIMIT_FSIZE exceeded the kernel sends SIGXFSZ, whose default kills the process
    // (and would leave the temporary file); ignored, the write fails with EFBIG instead and
    // the writer cleans up.
    // SAFETY: setting a disposition to SIG_IGN runs no code of ours.
    let _ = unsafe {
        nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGXFSZ,
            nix::sys::signal::SigHandler::SigIgn,
        )
    };
    crate::signals::install();
}

/// RLIMIT_CORE 0 (soft and hard: a child cannot raise it back) and `PR_SET_DUMPABLE` 0, as
/// ssh-agent does: no core file, no `gcore` or `ptrace` attach by the same user, and
/// `/proc/<pid>/` files (environ, mem) owned by root.
pub(crate) fn no_core_dumps() {
    use nix::sys::resource::{Resource, setrlimit};
    let _ = setrlimit(Resource::RLIMIT_CORE, 0, 0);
    let _ = nix::sys::prctl::set_dumpable(false);
}

/// Opens `/dev/null` on each of fds 0, 1 and 2 that is closed (`>&-`), as OpenSSH does: the
/// first file or socket the process opens would otherwise become its stdout, and a report
/// would be written into it.
pub(crate) fn standard_streams_open() {
    for fd in 0..=2 {
        // SAFETY: F_GETFD only queries the descriptor.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
            // SAFETY: open returns the lowest free descriptor, which is `fd`: every lower one
            // is open (checked in order).
            let got = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
            if got != fd && got >= 0 {
                // SAFETY: `got` is a descriptor we just opened.
                unsafe { libc::close(got) };
            }
        }
    }
}

/// A global allocator that leaves no freed block readable (`SEC-004`): the HTTP body, the
/// parsed values, the rendered file and every temporary copy made while growing a buffer are
/// gone from the process's memory once freed, whoever allocated them (reqwest, serde, our own
/// code). It is this library's global allocator, so every program built on it — both
/// binaries, and the examples and test programs that link it — does so. (Declared here rather
/// than in each `src/bin/*.rs`: `examples/package-assets.rs` compiles both binaries' sources as
/// modules of one program, which can have only one global allocator.)
///
/// Two kinds of block, told apart by the size the caller gives back on free:
/// - **small** (under [`LARGE`]): from the system allocator, wiped before it is returned to it
///   (the system allocator keeps freed blocks in the process to hand out again);
/// - **large** (a body, the rendered file, a big table): its own anonymous mapping, unmapped
///   on free and moved with `mremap` on growth — the pages go back to the kernel, which
///   zeroes them before any process sees them again, so there is nothing to wipe, and nothing
///   is copied to grow it. Wiping every freed block, large ones included, cost a memset over
///   every byte of a body and made the system allocator keep large blocks in its heap.
pub(crate) struct WipeOnFree;

#[global_allocator]
static ALLOC: WipeOnFree = WipeOnFree;

/// The size from which a block gets its own mapping (the system allocator's own default
/// threshold for `mmap`).
const LARGE: usize = 128 * 1024;

/// The page size every mapping is a multiple of (and aligned to).
const PAGE: usize = 4096;

/// The size of a transparent huge page on x86-64 and arm64: a mapping of this size or more is
/// aligned to it and asks for huge pages ([`map`]).
const HUGE: usize = 2 * 1024 * 1024;

/// Whether a block of `layout` is (or was) a mapping of its own.
fn is_large(size: usize, align: usize) -> bool {
    size >= LARGE && align <= PAGE
}

/// The length of the mapping that holds `size` bytes: whole pages.
fn pages(size: usize) -> usize {
    size.div_ceil(PAGE) * PAGE
}

/// Zeroes the whole block at `ptr` (its usable size, which may exceed what was asked for,
/// and which still holds the bytes of a buffer shrunk in place), with `explicit_bzero`: a
/// memset the compiler may not remove.
fn wipe_block(ptr: *mut u8) {
    // SAFETY: `ptr` is a live block of the system allocator (malloc or posix_memalign).
    unsafe {
        let len = libc::malloc_usable_size(ptr.cast());
        libc::explicit_bzero(ptr.cast(), len);
    }
}

/// A fresh private anonymous mapping of at least `size` bytes (zeroed by the kernel), or null.
/// Populated at once: a large block is asked for because it is about to be filled (an answer
/// of announced length, the rendered file), and one call that maps every page costs far less
/// than a page fault per 4 KiB page. From [`HUGE`] on the mapping starts on a huge-page
/// boundary and asks for transparent huge pages (`MADV_HUGEPAGE`, honoured when the kernel's
/// THP mode is `madvise` or `always`) before it is populated (`MADV_POPULATE_WRITE`): each
/// whole 2 MiB of it is zeroed and accounted once instead of 512 small pages, and unmapped as
/// one; the part past the last whole 2 MiB stays small pages, so nothing is mapped beyond what
/// was asked. The pages are the same fresh zeroed memory either way; where the kernel declines
/// either advice, the mapping stays small pages, populated by fault.
fn map(size: usize) -> *mut u8 {
    let len = pages(size);
    if len < HUGE {
        return map_at_any(len, libc::MAP_POPULATE);
    }
    // A huge-page boundary inside a mapping one huge page longer; what lies outside the
    // aligned `len` bytes is given back at once.
    let wide = map_at_any(len + HUGE, 0);
    if wide.is_null() {
        return wide;
    }
    let head = wide.align_offset(HUGE);
    let tail = HUGE - head;
    // SAFETY: both ranges are parts of the mapping just made, outside the `len` bytes kept,
    // used by nothing; advice on the kept part, which nothing uses yet (a refusal — no THP, a
    // kernel before 5.14 — changes nothing but speed).
    unsafe {
        let ptr = wide.add(head);
        if head > 0 {
            libc::munmap(wide.cast(), head);
        }
        libc::munmap(ptr.add(len).cast(), tail);
        libc::madvise(ptr.cast(), len, libc::MADV_HUGEPAGE);
        libc::madvise(ptr.cast(), len, libc::MADV_POPULATE_WRITE);
        ptr
    }
}

/// A private anonymous read-write mapping of `len` bytes wherever the kernel puts it, with
/// `extra` flags, or null.
fn map_at_any(len: usize, extra: libc::c_int) -> *mut u8 {
    // SAFETY: a new anonymous mapping touches no existing memory.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | extra,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        std::ptr::null_mut()
    } else {
        ptr.cast()
    }
}

/// Gives a mapping made by [`map`] for `size` bytes back to the kernel.
fn unmap(ptr: *mut u8, size: usize) {
    // SAFETY: `ptr` is a mapping of `pages(size)` bytes made by `map` (or moved by `mremap`),
    // no longer used by its owner.
    unsafe { libc::munmap(ptr.cast(), pages(size)) };
}

// SAFETY: a small block comes from `System` (glibc's malloc family), is wiped only while still
// owned, and is returned to `System`; a large block is a mapping of its own, made, moved and
// unmapped only here. Which kind a block is follows from its layout, which the caller gives
// back unchanged on free and realloc.
unsafe impl std::alloc::GlobalAlloc for WipeOnFree {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        if is_large(layout.size(), layout.align()) {
            return map(layout.size());
        }
        // SAFETY: forwarded unchanged.
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        if is_large(layout.size(), layout.align()) {
            // A new anonymous mapping is zeroed already.
            return map(layout.size());
        }
        // SAFETY: forwarded unchanged.
        unsafe { std::alloc::System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        if is_large(layout.size(), layout.align()) {
            unmap(ptr, layout.size());
            return;
        }
        wipe_block(ptr);
        // SAFETY: forwarded unchanged.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }

    /// A large block stays a mapping and is moved by the kernel (`mremap`: the page tables
    /// move, no byte is copied and the old range is gone); a small one stays in place when the
    /// block is already large enough; otherwise a new block, the bytes copied, and the old
    /// block freed as [`dealloc`](Self::dealloc) frees it (`realloc` of the system allocator
    /// could move the data and free the old copy unwiped).
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        let align = layout.align();
        if is_large(layout.size(), align) && is_large(new_size, align) {
            if pages(new_size) == pages(layout.size()) {
                return ptr;
            }
            // SAFETY: `ptr` is a whole mapping of `pages(layout.size())` bytes made here; with
            // MREMAP_MAYMOVE the kernel moves it when it cannot grow in place.
            let moved = unsafe {
                libc::mremap(
                    ptr.cast(),
                    pages(layout.size()),
                    pages(new_size),
                    libc::MREMAP_MAYMOVE,
                )
            };
            return if moved == libc::MAP_FAILED {
                std::ptr::null_mut()
            } else {
                moved.cast()
            };
        }
        // SAFETY: `ptr` is a live block of the system allocator.
        if !is_large(layout.size(), align)
            && !is_large(new_size, align)
            && new_size <= unsafe { libc::malloc_usable_size(ptr.cast()) }
        {
            return ptr;
        }
        // SAFETY: `new_size` is non-zero and fits the alignment, as `realloc` requires.
        let new_layout = unsafe { std::alloc::Layout::from_size_align_unchecked(new_size, align) };
        // SAFETY: forwarded; on failure the old block is left as it is, as `realloc` requires.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are live and do not overlap.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}
