// Clang's thread-safety analysis attributes (-Wthread-safety), as macros that vanish for other
// compilers. They let the compiler check that a member marked GUARDED_BY(mu_) is only touched
// with mu_ held, and that a function marked REQUIRES(mu_) is only called with it held. The
// names follow LevelDB's and Abseil's; see
// https://clang.llvm.org/docs/ThreadSafetyAnalysis.html.
#pragma once

#if defined(__clang__)
#define ARBALEST_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define ARBALEST_THREAD_ANNOTATION(x)
#endif

// A class that is a lock (a mutex).
#define CAPABILITY(x) ARBALEST_THREAD_ANNOTATION(capability(x))
// An RAII class that holds a lock for its lifetime.
#define SCOPED_CAPABILITY ARBALEST_THREAD_ANNOTATION(scoped_lockable)

// A data member read and written only with the given lock held.
#define GUARDED_BY(x) ARBALEST_THREAD_ANNOTATION(guarded_by(x))
// A pointer member whose pointee is read and written only with the given lock held.
#define PT_GUARDED_BY(x) ARBALEST_THREAD_ANNOTATION(pt_guarded_by(x))

// Lock ordering: this lock is taken after / before the given ones.
#define ACQUIRED_AFTER(...) ARBALEST_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#define ACQUIRED_BEFORE(...) ARBALEST_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))

// The caller must hold the locks exclusively / at least shared.
#define REQUIRES(...) ARBALEST_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) ARBALEST_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))

// The function takes / releases the locks (and returns with them held / not held).
#define ACQUIRE(...) ARBALEST_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...) ARBALEST_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define RELEASE(...) ARBALEST_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define RELEASE_SHARED(...) ARBALEST_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define RELEASE_GENERIC(...) ARBALEST_THREAD_ANNOTATION(release_generic_capability(__VA_ARGS__))

// The caller must not hold the locks (the function takes them itself).
#define EXCLUDES(...) ARBALEST_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))

// Turns the analysis off for a function that locks a set of mutexes only known at run time.
#define NO_THREAD_SAFETY_ANALYSIS ARBALEST_THREAD_ANNOTATION(no_thread_safety_analysis)

// The function checks at run time that the lock is held.
#define ASSERT_CAPABILITY(x) ARBALEST_THREAD_ANNOTATION(assert_capability(x))
#define ASSERT_SHARED_CAPABILITY(x) ARBALEST_THREAD_ANNOTATION(assert_shared_capability(x))

// The function returns a reference to the given lock.
#define RETURN_CAPABILITY(x) ARBALEST_THREAD_ANNOTATION(lock_returned(x))

// Turns the analysis off for one function; say why next to it.
#define NO_THREAD_SAFETY_ANALYSIS ARBALEST_THREAD_ANNOTATION(no_thread_safety_analysis)
