#pragma once

#include <csignal>

namespace provbridge {

// The C client libraries (hiredis 0.14, libldap) write with write(2), so a peer that already
// closed the socket raises SIGPIPE, whose default action kills the process. A library must not
// change the process-wide disposition, so the signal is blocked on this thread for the duration
// of the exchange and a SIGPIPE it caused is consumed before unblocking (the EPIPE error is what
// the caller acts on). Wrap every call that may write to a socket.
class SigpipeGuard {
public:
    SigpipeGuard();
    ~SigpipeGuard();
    SigpipeGuard(const SigpipeGuard&) = delete;
    SigpipeGuard& operator=(const SigpipeGuard&) = delete;

private:
    sigset_t previous_{};
    bool blocked_ = false;
    bool already_pending_ = false;
};

}  // namespace provbridge
