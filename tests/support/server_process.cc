#include "tests/support/server_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace mangaassist::testing {

namespace {

bool IsExecutableFile(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(path.c_str(), X_OK) == 0;
}

}  // namespace

absl::StatusOr<std::string> FindExecutable(const std::vector<std::string>& candidates,
                                           std::string_view install_hint) {
  std::vector<std::string> looked;
  for (const std::string& c : candidates) {
    if (c.find('/') != std::string::npos) {
      if (IsExecutableFile(c)) return c;
      looked.push_back(c);
      continue;
    }
    const char* path_env = std::getenv("PATH");
    for (const std::string& dir :
         std::vector<std::string>(absl::StrSplit(path_env ? path_env : "", ':'))) {
      if (dir.empty()) continue;
      std::string full = absl::StrCat(dir, "/", c);
      if (IsExecutableFile(full)) return full;
    }
    looked.push_back(absl::StrCat(c, " (on $PATH)"));
  }
  return absl::FailedPreconditionError(absl::StrCat("test server binary not found; looked at ",
                                                    absl::StrJoin(looked, ", "), ". ",
                                                    std::string(install_hint)));
}

absl::StatusOr<uint16_t> PickFreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    int err = errno;
    close(fd);
    return absl::InternalError(absl::StrCat("bind 127.0.0.1:0: ", std::strerror(err)));
  }
  close(fd);
  return ntohs(addr.sin_port);
}

absl::StatusOr<std::string> MakeTempDir(std::string_view prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = absl::StrCat(tmp && *tmp ? tmp : "/tmp", "/", std::string(prefix), ".XXXXXX");
  if (mkdtemp(templ.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp ", templ, ": ", std::strerror(errno)));
  }
  return templ;
}

void RemoveTree(const std::string& path) {
  if (path.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

std::string TailOfFile(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (all.size() > max_bytes) all = "..." + all.substr(all.size() - max_bytes);
  return all;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) Stop(SIGKILL, std::chrono::milliseconds(0));
}

absl::Status ChildProcess::Spawn(const std::vector<std::string>& argv, const std::string& log_path,
                                 int parent_death_signal) {
  if (pid_ > 0) return absl::FailedPreconditionError("child already running");
  if (argv.empty()) return absl::InvalidArgumentError("empty argv");
  // Everything the child needs is prepared before fork: only async-signal-safe calls after it.
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    return absl::InternalError(absl::StrCat("open ", log_path, ": ", std::strerror(errno)));
  }
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    close(log_fd);
    if (null_fd >= 0) close(null_fd);
    return absl::InternalError(absl::StrCat("fork: ", std::strerror(err)));
  }
  if (pid == 0) {
    if (parent_death_signal != 0) prctl(PR_SET_PDEATHSIG, parent_death_signal);
    if (getppid() != parent) _exit(126);  // the test died between fork and prctl
    if (null_fd >= 0) dup2(null_fd, 0);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    // Signals the test process ignores or blocks would otherwise be inherited by the server.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    execv(args[0], args.data());
    _exit(127);
  }
  close(log_fd);
  if (null_fd >= 0) close(null_fd);
  pid_ = pid;
  wait_status_ = 0;
  return absl::OkStatus();
}

bool ChildProcess::Alive() {
  if (pid_ <= 0) return false;
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_ || (r < 0 && errno == ECHILD)) {
    wait_status_ = status;
    pid_ = -1;
    return false;
  }
  return true;
}

bool ChildProcess::WaitExit(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (Alive()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

void ChildProcess::Stop(int sig, std::chrono::milliseconds grace, pid_t target) {
  if (!Alive()) return;
  if (target <= 0) target = pid_;
  kill(target, sig);
  if (WaitExit(grace)) return;
  if (target != pid_) kill(target, SIGKILL);
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  wait_status_ = status;
  pid_ = -1;
}

absl::Status RunToCompletion(const std::vector<std::string>& argv, const std::string& log_path,
                             std::chrono::milliseconds timeout) {
  ChildProcess child;
  if (absl::Status s = child.Spawn(argv, log_path); !s.ok()) return s;
  if (!child.WaitExit(timeout)) {
    child.Stop(SIGKILL, std::chrono::milliseconds(0));
    return absl::DeadlineExceededError(absl::StrCat(argv[0], " did not finish in ", timeout.count(),
                                                    " ms; log:\n", TailOfFile(log_path)));
  }
  int st = child.wait_status();
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    return absl::InternalError(absl::StrCat(absl::StrJoin(argv, " "), " failed (wait status ", st,
                                            "); log:\n", TailOfFile(log_path)));
  }
  return absl::OkStatus();
}

}  // namespace mangaassist::testing
