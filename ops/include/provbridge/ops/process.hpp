#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <sys/types.h>
#include <thread>
#include <vector>

namespace provbridge::ops {

// A child process, owned RAII-style: the destructor terminates and reaps it, and the child is
// killed if this process dies first (PR_SET_PDEATHSIG, tied to the creating thread, so create
// children from a thread that outlives them). stdout can be captured: a reader thread drains the pipe (so a chatty child never
// blocks on a full pipe) into a line queue that callers wait on with a deadline. Exit is
// awaited on a pidfd, so nothing here sleeps.
class ChildProcess {
public:
    struct Options {
        std::vector<std::string> argv;  // argv[0] is looked up in PATH
        std::vector<std::string> extra_env;  // NAME=value entries added to the current environment
        bool capture_stdout = true;
        bool quiet_stderr = false;  // send stderr to /dev/null
        bool merge_stderr = false;  // capture stderr into the same line stream as stdout
        std::string stdin_file;     // read stdin from this file (empty: inherit)
        std::string working_directory;
    };

    // Starts the process; throws std::runtime_error when it cannot be spawned (start-up only).
    explicit ChildProcess(Options options);
    ~ChildProcess();
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    pid_t pid() const { return pid_; }

    // Reads one line of stdout (without the newline); nullopt on EOF or when the deadline passes.
    std::optional<std::string> read_line(std::chrono::milliseconds timeout);
    // Reads lines until one contains `needle`; returns that line, or nullopt (EOF/deadline).
    std::optional<std::string> wait_for_line(const std::string& needle, std::chrono::milliseconds timeout);

    // Sends a signal (SIGTERM, SIGKILL, …) if the process is still running.
    void signal(int signo);
    // Waits for the process to exit and returns its wait status, or nullopt on timeout.
    std::optional<int> wait(std::chrono::milliseconds timeout);
    // SIGTERM, then SIGKILL if it has not exited within `grace`.
    void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(5000));
    // Peak resident set size (VmHWM) in kB while the process is alive, 0 if unknown.
    long peak_rss_kb() const;

    // Lines kept for read_line; older ones are dropped once this many are queued.
    static constexpr std::size_t kMaxQueuedLines = 10000;

private:
    void reader_loop(int fd);
    pid_t pid_ = -1;
    int pidfd_ = -1;
    bool exited_ = false;
    int status_ = 0;

    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<std::string> lines_;
    bool eof_ = true;
    std::thread reader_;
};

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0 and released).
int pick_free_port();

// A fresh directory under $TMPDIR (or /tmp), removed with its content by the destructor.
class TempDir {
public:
    explicit TempDir(const std::string& prefix);
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

}  // namespace provbridge::ops
