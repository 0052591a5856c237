#include "provbridge/core/sigpipe_guard.hpp"

#include <cerrno>
#include <ctime>

#include <pthread.h>

namespace provbridge {

SigpipeGuard::SigpipeGuard() {
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    already_pending_ = sigismember(&pending, SIGPIPE) == 1;
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGPIPE);
    blocked_ = pthread_sigmask(SIG_BLOCK, &block, &previous_) == 0;
}

SigpipeGuard::~SigpipeGuard() {
    if (!blocked_) return;
    const int saved_errno = errno;
    if (!already_pending_) {
        sigset_t pending;
        sigemptyset(&pending);
        sigpending(&pending);
        if (sigismember(&pending, SIGPIPE) == 1) {
            sigset_t pipe_only;
            sigemptyset(&pipe_only);
            sigaddset(&pipe_only, SIGPIPE);
            const timespec no_wait{0, 0};
            while (sigtimedwait(&pipe_only, nullptr, &no_wait) == -1 && errno == EINTR) {
            }
        }
    }
    pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
    errno = saved_errno;
}

}  // namespace provbridge
