#include "provbridge/ops/process.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <poll.h>
#include <sys/prctl.h>
#include <pthread.h>
#include <stdexcept>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

extern char** environ;  // NOLINT(readability-redundant-declaration)

namespace provbridge::ops {
namespace {

using Clock = std::chrono::steady_clock;

std::runtime_error sys_error(const std::string& what, int err) {
    return std::runtime_error(what + ": " + std::strerror(err));
}

}  // namespace

ChildProcess::ChildProcess(Options options) {
    if (options.argv.empty()) throw std::runtime_error("ChildProcess: empty argv");
    int pipe_fds[2] = {-1, -1};
    if (options.capture_stdout && pipe2(pipe_fds, O_CLOEXEC) != 0) throw sys_error("pipe", errno);
    // A pipe that reports exec failure: closed by a successful exec (O_CLOEXEC), or carries errno.
    int exec_fds[2] = {-1, -1};
    if (pipe2(exec_fds, O_CLOEXEC) != 0) throw sys_error("pipe", errno);

    // Everything the child needs is prepared before fork: after fork, in a multi-threaded
    // process, only async-signal-safe calls are allowed.
    std::vector<char*> argv;
    for (auto& a : options.argv) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_storage;
    for (char** e = environ; *e != nullptr; ++e) env_storage.emplace_back(*e);
    for (const auto& e : options.extra_env) env_storage.push_back(e);
    std::vector<char*> envp;
    for (auto& e : env_storage) envp.push_back(e.data());
    envp.push_back(nullptr);
    const pid_t parent = ::getpid();
    const int devnull = options.quiet_stderr ? ::open("/dev/null", O_WRONLY | O_CLOEXEC) : -1;
    const int input = options.stdin_file.empty() ? -1 : ::open(options.stdin_file.c_str(), O_RDONLY | O_CLOEXEC);
    if (!options.stdin_file.empty() && input < 0) throw sys_error("cannot open " + options.stdin_file, errno);
    sigset_t none;
    sigemptyset(&none);

    pid_ = ::fork();
    if (pid_ < 0) throw sys_error("fork", errno);
    if (pid_ == 0) {
        // Die with the parent: a crashed test or demo must not leave servers behind.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(127);
        ::pthread_sigmask(SIG_SETMASK, &none, nullptr);  // the parent blocks SIGINT/SIGTERM
        if (options.capture_stdout) {
            ::dup2(pipe_fds[1], STDOUT_FILENO);
            if (options.merge_stderr) ::dup2(pipe_fds[1], STDERR_FILENO);
        }
        if (devnull >= 0 && !options.merge_stderr) ::dup2(devnull, STDERR_FILENO);
        if (input >= 0) ::dup2(input, STDIN_FILENO);
        if (!options.working_directory.empty() && ::chdir(options.working_directory.c_str()) != 0) {
            const int err = errno;
            (void)!::write(exec_fds[1], &err, sizeof err);
            ::_exit(127);
        }
        ::execvpe(argv[0], argv.data(), envp.data());
        const int err = errno;
        (void)!::write(exec_fds[1], &err, sizeof err);
        ::_exit(127);
    }
    if (devnull >= 0) ::close(devnull);
    if (input >= 0) ::close(input);
    ::close(exec_fds[1]);
    int child_errno = 0;
    ssize_t n;
    do {
        n = ::read(exec_fds[0], &child_errno, sizeof child_errno);
    } while (n < 0 && errno == EINTR);
    ::close(exec_fds[0]);
    if (options.capture_stdout) ::close(pipe_fds[1]);
    if (n == static_cast<ssize_t>(sizeof child_errno)) {
        ::waitpid(pid_, nullptr, 0);
        pid_ = -1;
        if (options.capture_stdout) ::close(pipe_fds[0]);
        throw sys_error("cannot start " + options.argv[0], child_errno);
    }
    pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
    if (options.capture_stdout) {
        eof_ = false;
        reader_ = std::thread([this, fd = pipe_fds[0]] { reader_loop(fd); });
    }
}

ChildProcess::~ChildProcess() {
    if (pid_ > 0 && !exited_) stop(std::chrono::milliseconds(3000));
    if (reader_.joinable()) reader_.join();
    if (pidfd_ >= 0) close(pidfd_);
}

void ChildProcess::reader_loop(int fd) {
    std::string buffer;
    char chunk[4096];
    for (;;) {
        const ssize_t n = ::read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        buffer.append(chunk, static_cast<std::size_t>(n));
        std::size_t nl;
        std::lock_guard lock(mutex_);
        while ((nl = buffer.find('\n')) != std::string::npos) {
            std::string line = buffer.substr(0, nl);
            buffer.erase(0, nl + 1);
            if (!line.empty() && line.back() == '\r') line.pop_back();
            lines_.push_back(std::move(line));
            if (lines_.size() > kMaxQueuedLines) lines_.pop_front();
        }
        cv_.notify_all();
    }
    close(fd);
    std::lock_guard lock(mutex_);
    if (!buffer.empty()) lines_.push_back(std::move(buffer));
    eof_ = true;
    cv_.notify_all();
}

std::optional<std::string> ChildProcess::read_line(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, timeout, [&] { return !lines_.empty() || eof_; });
    if (lines_.empty()) return std::nullopt;
    std::string line = std::move(lines_.front());
    lines_.pop_front();
    return line;
}

std::optional<std::string> ChildProcess::wait_for_line(const std::string& needle,
                                                       std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) return std::nullopt;
        auto line = read_line(left);
        if (!line) return std::nullopt;
        if (line->find(needle) != std::string::npos) return line;
    }
}

void ChildProcess::signal(int signo) {
    if (pid_ > 0 && !exited_) ::kill(pid_, signo);
}

std::optional<int> ChildProcess::wait(std::chrono::milliseconds timeout) {
    if (pid_ <= 0) return std::nullopt;
    if (exited_) return status_;
    if (pidfd_ >= 0) {
        pollfd pfd{pidfd_, POLLIN, 0};
        const auto deadline = Clock::now() + timeout;
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            const int rc = ::poll(&pfd, 1, static_cast<int>(std::max<long>(left.count(), 0)));
            if (rc < 0 && errno == EINTR) continue;
            if (rc <= 0) return std::nullopt;
            break;
        }
    }
    int status = 0;
    if (::waitpid(pid_, &status, pidfd_ >= 0 ? WNOHANG : 0) != pid_) return std::nullopt;
    exited_ = true;
    status_ = status;
    return status;
}

void ChildProcess::stop(std::chrono::milliseconds grace) {
    if (pid_ <= 0 || exited_) return;
    signal(SIGTERM);
    if (!wait(grace)) {
        signal(SIGKILL);
        wait(std::chrono::milliseconds(10000));
    }
}

long ChildProcess::peak_rss_kb() const {
    if (pid_ <= 0) return 0;
    std::ifstream status("/proc/" + std::to_string(pid_) + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmHWM:", 0) == 0) {
            return std::strtol(line.c_str() + 6, nullptr, 10);
        }
    }
    return 0;
}

int pick_free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw sys_error("socket", errno);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        const int err = errno;
        ::close(fd);
        throw sys_error("bind", err);
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

TempDir::TempDir(const std::string& prefix) {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/" + prefix + "XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) throw sys_error("mkdtemp", errno);
    path_ = pattern;
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

}  // namespace provbridge::ops
