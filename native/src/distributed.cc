// libtorch's c10d process group (ProcessGroupGloo + TCPStore) for data-parallel training.
//
// Every blocking call (rendezvous, collectives, store waits) runs on a libuv worker thread and
// settles a Promise. Collectives keep the order in which JS issued them (a ticket per call), because
// Gloo pairs the n-th collective of every rank. Each rank beats a counter in the store every
// kBeatInterval; when a collective fails or times out, the counters say which rank stopped, and the
// error names it.
#include "distributed.h"

#include "tensor.h"

// ProcessGroupGloo.hpp declares nothing unless USE_C10D_GLOO is set, and it includes gloo's headers
// (Debian: libgloo-dev, the gloo that libtorch1.13 is linked against). Without them the addon still
// builds, and processGroupCreate says why it cannot work.
#if __has_include(<gloo/algorithm.h>)
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1
#endif
#define STEMSCOPE_WITH_GLOO 1
#endif

#ifdef STEMSCOPE_WITH_GLOO

#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <c10/util/Logging.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

namespace stemscope {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kBeatInterval{500};
// A rank whose counter has not moved for this long is lost (six missed beats).
constexpr milliseconds kStale{3000};
constexpr milliseconds kPoll{50};
constexpr milliseconds kBeatStoreTimeout{5000};

// ------------------------------------------------------------------ errors

// A failure the JS side receives as an Error with `kind` and `lostRanks`.
struct Failure : std::runtime_error {
  Failure(const std::string& message, std::string kind, std::vector<int64_t> lost = {})
      : std::runtime_error(message), kind(std::move(kind)), lost(std::move(lost)) {}
  std::string kind;  // rendezvous | lost-rank | timeout | broken | usage
  std::vector<int64_t> lost;
};

// c10 messages carry a C++ backtrace after the first line(s); keep the message itself.
std::string FirstLine(const std::exception& e) {
  const auto* c10 = dynamic_cast<const c10::Error*>(&e);
  std::string text = c10 ? c10->what_without_backtrace() : e.what();
  auto end = text.find("\nException raised from");
  if (end != std::string::npos) text.resize(end);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  for (auto& ch : text)
    if (ch == '\n') ch = ' ';
  return text;
}

std::string Seconds(milliseconds ms) {
  std::ostringstream out;
  out << ms.count() / 1000.0 << " s";
  return out.str();
}

std::string RankList(const std::vector<int64_t>& ranks) {
  std::ostringstream out;
  out << (ranks.size() == 1 ? "rank " : "ranks ");
  for (size_t i = 0; i < ranks.size(); ++i) out << (i ? ", " : "") << ranks[i];
  return out.str();
}

// c10d's socket code logs every connection retry through glog; our errors say it once, clearly.
class QuietLogs {
 public:
  QuietLogs() {
#ifdef C10_USE_GLOG
    std::lock_guard<std::mutex> lock(mutex_);
    if (depth_++ == 0) {
      saved_ = FLAGS_minloglevel;
      FLAGS_minloglevel = 3;  // FATAL only
    }
#endif
  }
  ~QuietLogs() {
#ifdef C10_USE_GLOG
    std::lock_guard<std::mutex> lock(mutex_);
    if (--depth_ == 0) FLAGS_minloglevel = saved_;
#endif
  }

 private:
  static inline std::mutex mutex_;
  static inline int depth_ = 0;
  static inline int saved_ = 0;
};

// ------------------------------------------------------------------ addresses

struct Resolved {
  std::string ip;
  int family;
};

// The numeric address of `host` (IPv4 preferred), or a Failure naming the host.
Resolved Resolve(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  int rc = getaddrinfo(host.c_str(), nullptr, &hints, &list);
  if (rc != 0 || list == nullptr) {
    throw Failure("cannot resolve the master address '" + host + "': " + gai_strerror(rc), "rendezvous");
  }
  const addrinfo* pick = list;
  for (const addrinfo* a = list; a; a = a->ai_next)
    if (a->ai_family == AF_INET) {
      pick = a;
      break;
    }
  char text[INET6_ADDRSTRLEN] = {0};
  const void* raw = pick->ai_family == AF_INET
                        ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(pick->ai_addr)->sin_addr)
                        : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(pick->ai_addr)->sin6_addr);
  inet_ntop(pick->ai_family, raw, text, sizeof text);
  Resolved out{text, pick->ai_family};
  freeaddrinfo(list);
  return out;
}

// The local address this host uses to reach `master` (a UDP "connect" sends nothing; it only asks
// the routing table). Gloo listens on it, so peers on other hosts can reach this rank the same way.
std::string LocalAddressTowards(const Resolved& master, int port) {
  int fd = socket(master.family, SOCK_DGRAM, 0);
  if (fd < 0) throw Failure("cannot open a socket to find the local address", "rendezvous");
  sockaddr_storage remote{};
  socklen_t length = 0;
  if (master.family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&remote);
    a->sin_family = AF_INET;
    a->sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, master.ip.c_str(), &a->sin_addr);
    length = sizeof(sockaddr_in);
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&remote);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET6, master.ip.c_str(), &a->sin6_addr);
    length = sizeof(sockaddr_in6);
  }
  sockaddr_storage local{};
  socklen_t localLength = sizeof local;
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&remote), length) == 0 &&
            getsockname(fd, reinterpret_cast<sockaddr*>(&local), &localLength) == 0;
  close(fd);
  if (!ok) throw Failure("no network route from this host to the master address " + master.ip, "rendezvous");
  char text[INET6_ADDRSTRLEN] = {0};
  const void* raw = local.ss_family == AF_INET
                        ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&local)->sin_addr)
                        : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&local)->sin6_addr);
  inet_ntop(local.ss_family, raw, text, sizeof text);
  return text;
}

std::string Hostname() {
  char name[256] = {0};
  gethostname(name, sizeof name - 1);
  return name;
}

std::vector<uint8_t> Bytes(const std::string& s) { return {s.begin(), s.end()}; }
std::string Text(const std::vector<uint8_t>& b) { return {b.begin(), b.end()}; }

using StorePtr = c10::intrusive_ptr<c10d::TCPStore>;

// A store call that did not return in time.
struct StoreSilent : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Runs `op` on a thread of its own and waits for it at most `limit`. c10d's TCPStore waits in recv
// without limit when rank 0's process is stopped, or its host vanished without closing the
// connection, so every store call after the connection goes through here. A call that runs out of
// time is left behind: its thread owns copies of what it uses (pass StorePtr copies, never the Group).
template <class T>
T Bounded(milliseconds limit, std::function<T()> op) {
  auto task = std::make_shared<std::packaged_task<T()>>(std::move(op));
  std::future<T> result = task->get_future();
  std::thread([task] { (*task)(); }).detach();
  if (result.wait_for(limit) != std::future_status::ready) {
    throw StoreSilent("rank 0's rendezvous store did not answer within " + Seconds(limit));
  }
  return result.get();
}

std::string BeatKey(int64_t rank) { return "stemscope/beat/" + std::to_string(rank); }
std::string FailedKey(int64_t rank) { return "stemscope/user/failed/" + std::to_string(rank); }

// What rank `r` published as the reason it gave up (TS: ProcessGroup.abandon), or "". Runs inside a
// Bounded call.
std::string ReportedIn(const StorePtr& store, int64_t r) {
  const std::string key = FailedKey(r);
  return store->check({key}) ? Text(store->get(key)) : std::string();
}

// ------------------------------------------------------------------ the group

struct Settings {
  std::string masterAddr;
  int port = 29500;
  int64_t worldSize = 1;
  int64_t rank = 0;
  milliseconds timeout{300000};
  std::string interfaceName;  // GLOO_SOCKET_IFNAME; empty = the address that routes to the master
};

// Everything one rank holds. Shared by the JS object and the workers in flight, so a destroy()
// while a collective is pending only takes effect when that collective has returned.
class Group {
 public:
  explicit Group(Settings s) : settings(std::move(s)) {}
  ~Group() { Shutdown(); }

  const Settings settings;
  std::string localAddress;
  std::string deviceText;
  c10::intrusive_ptr<c10d::TCPStore> store;      // rendezvous, metadata, heartbeats read
  c10::intrusive_ptr<c10d::TCPStore> beatStore;  // heartbeats written (its own connection)
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;

  // Collectives run in the order JS issued them.
  uint64_t TakeTicket() { return issued_++; }
  void WaitTurn(uint64_t ticket) {
    std::unique_lock<std::mutex> lock(orderMutex_);
    orderCv_.wait(lock, [&] { return next_ == ticket; });
  }
  void EndTurn() {
    {
      std::lock_guard<std::mutex> lock(orderMutex_);
      ++next_;
    }
    orderCv_.notify_all();
  }

  // After a failed collective the group cannot be trusted: later ones fail at once with the cause.
  void MarkBroken(const std::string& why) {
    std::lock_guard<std::mutex> lock(brokenMutex_);
    if (broken_.empty()) broken_ = why;
  }
  std::string Broken() {
    std::lock_guard<std::mutex> lock(brokenMutex_);
    return broken_;
  }

  // The heartbeat thread owns what it touches, so Shutdown() can let it go without joining (a beat
  // stuck on an unresponsive store must not block the JS thread).
  void StartHeartbeat() {
    auto state = beat_;
    auto beatStoreRef = beatStore;
    std::thread([state, beatStoreRef, key = BeatKey(settings.rank)] {
      std::unique_lock<std::mutex> lock(state->mutex);
      while (!state->stop) {
        lock.unlock();
        try {
          beatStoreRef->add(key, 1);
        } catch (const std::exception&) {
          return;  // rank 0's store is gone; a collective or store call will report it
        }
        lock.lock();
        state->cv.wait_for(lock, kBeatInterval, [&] { return state->stop; });
      }
    }).detach();
  }

  // What rank `r` published as the reason it gave up, or "" (also when the store does not answer).
  std::string Reported(int64_t r) {
    StorePtr st = store;
    try {
      return Bounded<std::string>(kBeatStoreTimeout, [st, r] { return ReportedIn(st, r); });
    } catch (const std::exception&) {
      return {};
    }
  }

  // "rank 1 of 2" plus, for each rank that said why it gave up, its reason.
  std::string Describe(const std::vector<int64_t>& lost) {
    std::string text = RankList(lost) + " of " + std::to_string(settings.worldSize);
    for (int64_t r : lost) {
      std::string why = Reported(r);
      if (!why.empty()) text += " (rank " + std::to_string(r) + " failed: " + why + ")";
    }
    return text;
  }

  // The ranks that have not beaten for kStale; {0} when rank 0's store does not answer.
  std::vector<int64_t> LostRanks(bool* storeGone) {
    QuietLogs quiet;
    *storeGone = false;
    StorePtr beats = beatStore;
    const int64_t self = settings.rank;
    const int64_t world = settings.worldSize;
    try {
      return Bounded<std::vector<int64_t>>(kStale + kBeatStoreTimeout, [beats, self, world] {
        std::map<int64_t, int64_t> first;
        for (int64_t r = 0; r < world; ++r)
          if (r != self) first[r] = beats->add(BeatKey(r), 0);
        auto deadline = Clock::now() + kStale;
        while (!first.empty() && Clock::now() < deadline) {
          std::this_thread::sleep_for(kPoll * 4);
          for (auto it = first.begin(); it != first.end();) {
            it = beats->add(BeatKey(it->first), 0) != it->second ? first.erase(it) : std::next(it);
          }
        }
        std::vector<int64_t> lost;
        for (const auto& [r, count] : first) lost.push_back(r);
        return lost;
      });
    } catch (const std::exception&) {
      *storeGone = true;
      return {0};
    }
  }

  void Shutdown() {
    {
      std::lock_guard<std::mutex> lock(beat_->mutex);
      beat_->stop = true;
    }
    beat_->cv.notify_all();
    pg.reset();
    beatStore.reset();
    store.reset();
  }

 private:
  std::mutex orderMutex_;
  std::condition_variable orderCv_;
  uint64_t issued_ = 0;  // touched on the JS thread only
  uint64_t next_ = 0;
  std::mutex brokenMutex_;
  std::string broken_;
  struct BeatState {
    std::mutex mutex;
    std::condition_variable cv;
    bool stop = false;
  };
  std::shared_ptr<BeatState> beat_ = std::make_shared<BeatState>();
};

// Waits until every key exists. owners[i] is the rank that writes keys[i]: with `alive`, it must keep
// beating while its key is missing, or the wait fails naming it. deadline 0 = none.
void WaitForKeys(Group& g, const std::vector<std::string>& keys, const std::vector<int64_t>& owners,
                 milliseconds deadline, const std::string& what, bool alive = true) {
  QuietLogs quiet;
  const auto start = Clock::now();
  // One look at the store: the keys still missing, and their owners' beat counters and reasons.
  struct Look {
    std::vector<size_t> missing;
    std::map<int64_t, int64_t> beats;
    std::map<int64_t, std::string> reasons;
  };
  struct Seen {
    int64_t count;
    Clock::time_point since;
  };
  std::map<int64_t, Seen> seen;
  std::vector<size_t> missing(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) missing[i] = i;
  const StorePtr store = g.store;
  const StorePtr beatStore = g.beatStore;
  const int64_t self = g.settings.rank;
  while (true) {
    Look look;
    try {
      look = Bounded<Look>(kBeatStoreTimeout, [store, beatStore, keys, owners, missing, alive, self] {
        Look l;
        for (size_t i : missing)
          if (!store->check({keys[i]})) l.missing.push_back(i);
        if (!alive) return l;
        for (size_t i : l.missing) {
          int64_t owner = owners[i];
          if (owner == self || l.beats.count(owner)) continue;
          l.reasons[owner] = ReportedIn(store, owner);
          l.beats[owner] = beatStore->add(BeatKey(owner), 0);
        }
        return l;
      });
    } catch (const std::exception& e) {
      throw Failure("lost rank 0 (it hosts the rendezvous store at " + g.settings.masterAddr + ":" +
                        std::to_string(g.settings.port) + ") while waiting for " + what + ": " + FirstLine(e),
                    "lost-rank", {0});
    }
    missing = look.missing;
    if (missing.empty()) return;
    std::vector<int64_t> lost;
    const auto now = Clock::now();
    for (const auto& [owner, count] : look.beats) {
      const std::string& why = look.reasons[owner];
      if (!why.empty()) {
        throw Failure("rank " + std::to_string(owner) + " failed while this rank waited for " + what + ": " + why,
                      "lost-rank", {owner});
      }
      auto it = seen.find(owner);
      if (it == seen.end() || it->second.count != count) seen[owner] = {count, now};
      else if (now - it->second.since > kStale) lost.push_back(owner);
    }
    if (!lost.empty()) {
      throw Failure("lost " + g.Describe(lost) + " while waiting for " + what + " (no heartbeat for " +
                        Seconds(kStale) + ": the process ended or its host is unreachable)",
                    "lost-rank", lost);
    }
    if (deadline.count() > 0 && Clock::now() - start > deadline) {
      std::vector<int64_t> late;
      for (size_t i : missing) late.push_back(owners[i]);
      throw Failure(what + ": " + RankList(late) + " did not arrive within " + Seconds(deadline), "timeout", late);
    }
    std::this_thread::sleep_for(kPoll);
  }
}

// ------------------------------------------------------------------ rendezvous

std::shared_ptr<Group> Rendezvous(const Settings& s) {
  QuietLogs quiet;
  auto g = std::make_shared<Group>(s);
  const std::string where = s.masterAddr + ":" + std::to_string(s.port);
  const Resolved master = Resolve(s.masterAddr);

  c10d::TCPStoreOptions options;
  options.port = static_cast<uint16_t>(s.port);
  options.isServer = s.rank == 0;
  options.waitWorkers = false;  // we wait ourselves, naming the ranks that are missing
  options.timeout = s.timeout;
  try {
    g->store = c10::make_intrusive<c10d::TCPStore>(s.masterAddr, options);
    options.isServer = false;
    // Beats and liveness checks must not wait out a long timeout on a stopped rank 0.
    options.timeout = std::min(s.timeout, kBeatStoreTimeout);
    g->beatStore = c10::make_intrusive<c10d::TCPStore>(s.masterAddr, options);
  } catch (const std::exception& e) {
    if (s.rank == 0) {
      throw Failure("rank 0 could not host the rendezvous store on port " + std::to_string(s.port) + ": " +
                        FirstLine(e) + " (is the port in use? choose another master port)",
                    "rendezvous");
    }
    throw Failure("rank " + std::to_string(s.rank) + " could not reach the rendezvous store of rank 0 at " + where +
                      " within " + Seconds(s.timeout) + ": " + FirstLine(e) +
                      " (check the master address and port, and that rank 0 is running)",
                  "rendezvous");
  }

  const std::string me = std::to_string(s.rank);
  std::ostringstream identity;
  identity << "pid " << getpid() << " on " << Hostname();
  const StorePtr store = g->store;
  const std::string who = identity.str();
  const int64_t world = s.worldSize;
  // Empty: this rank is claimed; else who holds it already.
  std::string taken;
  try {
    taken = Bounded<std::string>(s.timeout, [store, me, who] {
      if (store->add("stemscope/claim/" + me, 1) > 1) {
        const std::string key = "stemscope/who/" + me;
        return store->check({key}) ? Text(store->get(key)) : std::string("another process");
      }
      store->set("stemscope/who/" + me, Bytes(who));
      return std::string();
    });
  } catch (const std::exception& e) {
    throw Failure("rank " + me + " reached rank 0's rendezvous store at " + where + " but it does not answer: " +
                      FirstLine(e),
                  "rendezvous");
  }
  if (!taken.empty()) {
    throw Failure("rank " + me + " was started twice: " + taken + " already joined the rendezvous at " + where +
                      " as rank " + me + "; give every process its own rank",
                  "rendezvous");
  }
  g->StartHeartbeat();

  std::vector<std::string> keys;
  std::vector<int64_t> owners;
  for (int64_t r = 0; r < s.worldSize; ++r) {
    keys.push_back("stemscope/joined/" + std::to_string(r));
    owners.push_back(r);
  }
  std::vector<std::string> sizes;
  try {
    Bounded<bool>(s.timeout, [store, me, world] {
      store->set("stemscope/joined/" + me, Bytes(std::to_string(world)));
      return true;
    });
    // Ranks that have not joined do not beat yet: only the deadline applies.
    WaitForKeys(*g, keys, owners, s.timeout, "the rendezvous at " + where, false);
    sizes = Bounded<std::vector<std::string>>(s.timeout, [store, keys] {
      std::vector<std::string> out;
      for (const auto& k : keys) out.push_back(Text(store->get(k)));
      return out;
    });
  } catch (const Failure& f) {
    throw Failure(std::string(f.what()) + " (each of the " + std::to_string(s.worldSize) +
                      " ranks must be started with the same master address, port and world size)",
                  "rendezvous", f.lost);
  } catch (const std::exception& e) {
    throw Failure("rank " + me + ": rank 0's rendezvous store at " + where + " stopped answering: " + FirstLine(e),
                  "rendezvous", {0});
  }
  for (int64_t r = 0; r < s.worldSize; ++r) {
    const std::string& theirs = sizes[r];
    if (theirs != std::to_string(s.worldSize)) {
      throw Failure("rank " + std::to_string(r) + " was started with world size " + theirs + ", rank " + me +
                        " with " + std::to_string(s.worldSize) + "; every rank needs the same world size",
                    "rendezvous");
    }
  }

  auto gloo = c10d::ProcessGroupGloo::Options::create(s.timeout);
  try {
    if (!s.interfaceName.empty()) {
      gloo->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(s.interfaceName));
      g->localAddress = s.interfaceName;
    } else {
      g->localAddress = LocalAddressTowards(master, s.port);
      gloo->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(g->localAddress));
    }
  } catch (const Failure&) {
    throw;
  } catch (const std::exception& e) {
    throw Failure("rank " + me + " cannot open a Gloo device on " +
                      (s.interfaceName.empty() ? g->localAddress : "interface " + s.interfaceName) + ": " +
                      FirstLine(e),
                  "rendezvous");
  }
  g->deviceText = gloo->devices[0]->str();
  try {
    auto prefixed = c10::make_intrusive<c10d::PrefixStore>("gloo", g->store);
    g->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, static_cast<int>(s.rank),
                                                        static_cast<int>(s.worldSize), gloo);
  } catch (const std::exception& e) {
    throw Failure("rank " + me + " could not connect to every other rank through Gloo within " +
                      Seconds(s.timeout) + ": " + FirstLine(e) +
                      " (a firewall between hosts, or set GLOO_SOCKET_IFNAME to the interface that reaches them)",
                  "rendezvous");
  }
  return g;
}

// ------------------------------------------------------------------ collectives

struct Bucket {
  std::vector<at::Tensor> tensors;
  at::Tensor flat;
  bool inPlace = false;
};

// Consecutive tensors of one dtype, at most `capBytes` each (a larger tensor gets its own), as
// DistributedDataParallel's gradient buckets. Elements travel in logical (NCHW) order whatever the
// memory format, so ranks agree even if their layouts differ.
std::vector<Bucket> MakeBuckets(const std::vector<at::Tensor>& tensors, int64_t capBytes) {
  std::vector<Bucket> buckets;
  int64_t bytes = 0;
  for (const auto& t : tensors) {
    int64_t size = t.numel() * static_cast<int64_t>(t.element_size());
    if (buckets.empty() || buckets.back().tensors.front().scalar_type() != t.scalar_type() ||
        bytes + size > capBytes) {
      buckets.emplace_back();
      bytes = 0;
    }
    buckets.back().tensors.push_back(t);
    bytes += size;
  }
  for (auto& b : buckets) {
    if (b.tensors.size() == 1 && b.tensors[0].is_contiguous()) {
      b.flat = b.tensors[0].view({-1});
      b.inPlace = true;
      continue;
    }
    int64_t total = 0;
    for (const auto& t : b.tensors) total += t.numel();
    b.flat = at::empty({total}, b.tensors[0].options().memory_format(c10::MemoryFormat::Contiguous));
    int64_t offset = 0;
    for (const auto& t : b.tensors) {
      b.flat.narrow(0, offset, t.numel()).view(t.sizes()).copy_(t);
      offset += t.numel();
    }
  }
  return buckets;
}

void Unflatten(Bucket& b) {
  if (b.inPlace) return;
  int64_t offset = 0;
  for (auto& t : b.tensors) {
    t.copy_(b.flat.narrow(0, offset, t.numel()).view(t.sizes()));
    offset += t.numel();
  }
}

// Waits for every work item (so no buffer is released under Gloo), then rethrows the first error.
void WaitAll(std::vector<c10::intrusive_ptr<c10d::Work>>& works) {
  std::exception_ptr first;
  for (auto& w : works) {
    try {
      w->wait();
    } catch (...) {
      if (!first) first = std::current_exception();
    }
  }
  if (first) std::rethrow_exception(first);
}

void AllReduce(Group& g, std::vector<at::Tensor>& tensors, bool average, int64_t capBytes) {
  auto buckets = MakeBuckets(tensors, capBytes);
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  for (auto& b : buckets) {
    std::vector<at::Tensor> one{b.flat};
    works.push_back(g.pg->allreduce(one));
  }
  WaitAll(works);
  for (auto& b : buckets) {
    if (average) b.flat.div_(static_cast<double>(g.settings.worldSize));
    Unflatten(b);
  }
}

void Broadcast(Group& g, std::vector<at::Tensor>& tensors, int64_t root, int64_t capBytes) {
  auto buckets = MakeBuckets(tensors, capBytes);
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  c10d::BroadcastOptions options;
  options.rootRank = root;
  for (auto& b : buckets) {
    std::vector<at::Tensor> one{b.flat};
    works.push_back(g.pg->broadcast(one, options));
  }
  WaitAll(works);
  if (g.settings.rank != root)
    for (auto& b : buckets) Unflatten(b);
}

// Turns a Gloo / c10d error of collective `op` into one that names the lost rank, or says that
// every rank is alive and the collective timed out.
Failure Diagnose(Group& g, const std::string& op, const std::exception& e) {
  const std::string cause = FirstLine(e);
  const std::string of = " of " + std::to_string(g.settings.worldSize);
  bool storeGone = false;
  std::vector<int64_t> lost = g.LostRanks(&storeGone);
  if (storeGone) {
    return Failure(op + ": lost rank 0" + of + " (its rendezvous store at " + g.settings.masterAddr + ":" +
                       std::to_string(g.settings.port) +
                       " no longer answers: the process ended or its host is unreachable); gloo: " + cause,
                   "lost-rank", {0});
  }
  if (!lost.empty()) {
    return Failure(op + ": lost " + g.Describe(lost) + " (no heartbeat for " + Seconds(kStale) +
                       ": the process ended or its host is unreachable); gloo: " + cause,
                   "lost-rank", lost);
  }
  bool timedOut = cause.find("imed out") != std::string::npos || cause.find("imeout") != std::string::npos;
  if (timedOut) {
    return Failure(op + ": no answer within the timeout of " + Seconds(g.settings.timeout) +
                       ", yet every rank is alive: one is still busy (raise the timeout) or the ranks issued "
                       "different collectives; gloo: " +
                       cause,
                   "timeout");
  }
  return Failure(op + ": " + cause, "broken");
}

// ------------------------------------------------------------------ JS side

class ProcessGroupWrap;

// What a task hands back to JS.
struct Result {
  std::shared_ptr<Group> group;  // processGroupCreate
  bool hasText = false;
  std::string text;              // storeGet
};

Napi::Object NewProcessGroup(Napi::Env env, std::shared_ptr<Group> group);

// Runs `body` on a libuv thread. `group` (when given) orders it among the collectives.
class Task : public Napi::AsyncWorker {
 public:
  Task(Napi::Env env, const char* name, std::shared_ptr<Group> ordered, std::function<void(Result&)> body,
       std::vector<at::Tensor> hold = {})
      : Napi::AsyncWorker(env, name),
        deferred_(Napi::Promise::Deferred::New(env)),
        ordered_(std::move(ordered)),
        body_(std::move(body)),
        hold_(std::move(hold)) {
    if (ordered_) ticket_ = ordered_->TakeTicket();
  }
  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Execute() override {
    if (ordered_) ordered_->WaitTurn(ticket_);
    try {
      at::init_num_threads();
      at::NoGradGuard noGrad;
      body_(result_);
    } catch (const Failure& f) {
      failure_ = std::make_unique<Failure>(f);
    } catch (const std::exception& e) {
      failure_ = std::make_unique<Failure>(FirstLine(e), "broken");
    }
    if (ordered_) ordered_->EndTurn();
    if (failure_) SetError(failure_->what());
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (result_.group) deferred_.Resolve(NewProcessGroup(env, result_.group));
    else if (result_.hasText) deferred_.Resolve(Napi::String::New(env, result_.text));
    else deferred_.Resolve(env.Undefined());
  }

  void OnError(const Napi::Error& e) override {
    Napi::Env env = Env();
    Napi::Error error = Napi::Error::New(env, failure_ ? failure_->what() : e.Message());
    error.Set("kind", Napi::String::New(env, failure_ ? failure_->kind : "broken"));
    Napi::Array lost = Napi::Array::New(env);
    if (failure_)
      for (size_t i = 0; i < failure_->lost.size(); ++i)
        lost.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(failure_->lost[i])));
    error.Set("lostRanks", lost);
    deferred_.Reject(error.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<Group> ordered_;
  uint64_t ticket_ = 0;
  std::function<void(Result&)> body_;
  std::vector<at::Tensor> hold_;  // keeps the tensors alive even if JS disposes them meanwhile
  Result result_;
  std::unique_ptr<Failure> failure_;
};

Napi::Promise Queue(Task* task) {
  Napi::Promise promise = task->Promise();
  task->Queue();
  return promise;
}

int64_t IntField(const Args& a, const Napi::Object& o, const char* name, int64_t lo, int64_t hi) {
  Napi::Value v = o.Get(name);
  if (!v.IsNumber()) throw Napi::TypeError::New(a.env(), std::string(a.op) + ": options." + name + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (d != static_cast<double>(static_cast<int64_t>(d)) || d < lo || d > hi) {
    std::ostringstream out;
    out << a.op << ": options." << name << " must be an integer in [" << lo << ", " << hi << "], got " << d;
    throw Napi::RangeError::New(a.env(), out.str());
  }
  return static_cast<int64_t>(d);
}

// processGroupCreate({ masterAddr, masterPort, worldSize, rank, timeoutMs, interfaceName? })
Napi::Value ProcessGroupCreate(const Napi::CallbackInfo& info) {
  Args a{info, "processGroupCreate"};
  if (!info[0].IsObject()) a.typeError(0, "an options object");
  auto o = info[0].As<Napi::Object>();
  Settings s;
  Napi::Value addr = o.Get("masterAddr");
  if (!addr.IsString() || addr.As<Napi::String>().Utf8Value().empty())
    throw Napi::TypeError::New(a.env(), "processGroupCreate: options.masterAddr must be a host name or address");
  s.masterAddr = addr.As<Napi::String>().Utf8Value();
  s.port = static_cast<int>(IntField(a, o, "masterPort", 1, 65535));
  s.worldSize = IntField(a, o, "worldSize", 1, 1 << 20);
  s.rank = IntField(a, o, "rank", 0, s.worldSize - 1);
  s.timeout = milliseconds(IntField(a, o, "timeoutMs", 1, int64_t(1) << 40));
  Napi::Value iface = o.Get("interfaceName");
  if (iface.IsString()) s.interfaceName = iface.As<Napi::String>().Utf8Value();
  return Queue(new Task(info.Env(), "stemscope:processGroupCreate", nullptr,
                        [s](Result& r) { r.group = Rendezvous(s); }));
}

class ProcessGroupWrap : public Napi::ObjectWrap<ProcessGroupWrap> {
 public:
  static Napi::Function Init(Napi::Env env) {
    Napi::Function ctor = DefineClass(
        env, "ProcessGroup",
        {
            InstanceMethod("allReduce", &ProcessGroupWrap::AllReduceJs),
            InstanceMethod("broadcast", &ProcessGroupWrap::BroadcastJs),
            InstanceMethod("barrier", &ProcessGroupWrap::BarrierJs),
            InstanceMethod("storeSet", &ProcessGroupWrap::StoreSet),
            InstanceMethod("storeGet", &ProcessGroupWrap::StoreGet),
            InstanceMethod("storeWait", &ProcessGroupWrap::StoreWait),
            InstanceMethod("destroy", &ProcessGroupWrap::Destroy),
            InstanceAccessor("rank", &ProcessGroupWrap::Rank, nullptr),
            InstanceAccessor("worldSize", &ProcessGroupWrap::WorldSize, nullptr),
            InstanceAccessor("localAddress", &ProcessGroupWrap::LocalAddress, nullptr),
            InstanceAccessor("device", &ProcessGroupWrap::Device, nullptr),
            InstanceAccessor("destroyed", &ProcessGroupWrap::Destroyed, nullptr),
        });
    constructor = new Napi::FunctionReference(Napi::Persistent(ctor));
    return ctor;
  }

  explicit ProcessGroupWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ProcessGroupWrap>(info) {
    if (info.Length() != 1 || !info[0].IsExternal())
      throw Napi::TypeError::New(info.Env(), "ProcessGroup is created by processGroupCreate, not with new");
    group_ = *info[0].As<Napi::External<std::shared_ptr<Group>>>().Data();
    settings_ = group_->settings;
    localAddress_ = group_->localAddress;
    device_ = group_->deviceText;
  }

  static Napi::FunctionReference* constructor;

 private:
  std::shared_ptr<Group> Live(const Args& a) {
    if (!group_) throw Napi::Error::New(a.env(), std::string(a.op) + ": the process group was destroyed");
    return group_;
  }

  // A collective: tensors, ordered, refused at once when an earlier one failed.
  Napi::Value Collective(const Args& a, std::vector<at::Tensor> tensors,
                         std::function<void(Group&, std::vector<at::Tensor>&)> run) {
    auto g = Live(a);
    std::string op = a.op;
    return Queue(new Task(
        a.env(), "stemscope:collective", g,
        [g, op, tensors, run](Result&) mutable {
          std::string broken = g->Broken();
          if (!broken.empty()) throw Failure(op + ": the process group failed earlier: " + broken, "broken");
          try {
            run(*g, tensors);
          } catch (const std::exception& e) {
            Failure f = Diagnose(*g, op, e);
            g->MarkBroken(f.what());
            throw f;
          }
        },
        tensors));
  }

  // allReduce(tensors, op "sum" | "avg", bucketBytes)
  Napi::Value AllReduceJs(const Napi::CallbackInfo& info) {
    Args a{info, "allReduce"};
    auto tensors = a.tensorList(0);
    std::string op = a.isMissing(1) ? "sum" : a.string(1);
    if (op != "sum" && op != "avg")
      throw Napi::TypeError::New(a.env(), "allReduce: op must be \"sum\" or \"avg\", got \"" + op + "\"");
    for (const auto& t : tensors)
      if (op == "avg" && !at::isFloatingType(t.scalar_type()))
        throw Napi::TypeError::New(a.env(), "allReduce: \"avg\" needs floating-point tensors, got " + Describe(t));
    int64_t cap = a.integerOr(2, 25 << 20);
    if (cap < 1) a.typeError(2, "a positive byte count");
    bool average = op == "avg";
    return Collective(a, std::move(tensors), [average, cap](Group& g, std::vector<at::Tensor>& ts) {
      AllReduce(g, ts, average, cap);
    });
  }

  // broadcast(tensors, root, bucketBytes)
  Napi::Value BroadcastJs(const Napi::CallbackInfo& info) {
    Args a{info, "broadcast"};
    auto tensors = a.tensorList(0);
    int64_t root = a.integerOr(1, 0);
    if (root < 0 || root >= settings_.worldSize) a.typeError(1, "a rank of the group");
    int64_t cap = a.integerOr(2, 25 << 20);
    if (cap < 1) a.typeError(2, "a positive byte count");
    return Collective(a, std::move(tensors), [root, cap](Group& g, std::vector<at::Tensor>& ts) {
      Broadcast(g, ts, root, cap);
    });
  }

  Napi::Value BarrierJs(const Napi::CallbackInfo& info) {
    Args a{info, "barrier"};
    return Collective(a, {}, [](Group& g, std::vector<at::Tensor>&) { g.pg->barrier()->wait(); });
  }

  static std::string UserKey(const std::string& key) { return "stemscope/user/" + key; }

  // storeSet(key, value): a string visible to every rank.
  Napi::Value StoreSet(const Napi::CallbackInfo& info) {
    Args a{info, "storeSet"};
    auto g = Live(a);
    std::string key = UserKey(a.string(0));
    std::string value = a.string(1);
    return Queue(new Task(a.env(), "stemscope:storeSet", nullptr, [g, key, value](Result&) {
      const StorePtr store = g->store;
      try {
        Bounded<bool>(g->settings.timeout, [store, key, value] {
          store->set(key, Bytes(value));
          return true;
        });
      } catch (const std::exception& e) {
        throw Failure("storeSet: rank 0's rendezvous store does not answer: " + FirstLine(e), "lost-rank", {0});
      }
    }));
  }

  // storeGet(key): the value of a key that exists (wait for it with storeWait first).
  Napi::Value StoreGet(const Napi::CallbackInfo& info) {
    Args a{info, "storeGet"};
    auto g = Live(a);
    std::string key = UserKey(a.string(0));
    return Queue(new Task(a.env(), "stemscope:storeGet", nullptr, [g, key](Result& r) {
      QuietLogs quiet;
      const StorePtr store = g->store;
      try {
        r.text = Bounded<std::string>(g->settings.timeout, [store, key] { return Text(store->get(key)); });
        r.hasText = true;
      } catch (const std::exception& e) {
        throw Failure("storeGet: rank 0's rendezvous store does not answer: " + FirstLine(e), "lost-rank", {0});
      }
    }));
  }

  // storeWait(keys, owners, timeoutMs, what): until every key exists; owners[i] writes keys[i] and
  // must stay alive meanwhile. timeoutMs 0 = wait while the owners live.
  Napi::Value StoreWait(const Napi::CallbackInfo& info) {
    Args a{info, "storeWait"};
    auto g = Live(a);
    if (!info[0].IsArray()) a.typeError(0, "an array of keys");
    auto list = info[0].As<Napi::Array>();
    std::vector<std::string> keys;
    for (uint32_t i = 0; i < list.Length(); ++i) {
      Napi::Value v = list.Get(i);
      if (!v.IsString()) a.typeError(0, "an array of keys");
      keys.push_back(UserKey(v.As<Napi::String>().Utf8Value()));
    }
    std::vector<int64_t> owners = a.intList(1);
    if (owners.size() != keys.size()) a.typeError(1, "an owner rank per key");
    milliseconds deadline(a.integerOr(2, 0));
    std::string what = a.isMissing(3) ? "a key from another rank" : a.string(3);
    return Queue(new Task(a.env(), "stemscope:storeWait", nullptr,
                          [g, keys, owners, deadline, what](Result&) { WaitForKeys(*g, keys, owners, deadline, what); }));
  }

  // Stops the heartbeat and releases the group (at once, or when the last pending call returns).
  Napi::Value Destroy(const Napi::CallbackInfo& info) {
    if (group_) {
      auto g = std::move(group_);
      group_.reset();
      if (g.use_count() == 1) g->Shutdown();
    }
    return info.Env().Undefined();
  }

  Napi::Value Rank(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), settings_.rank); }
  Napi::Value WorldSize(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(settings_.worldSize));
  }
  Napi::Value LocalAddress(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), localAddress_); }
  Napi::Value Device(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), device_); }
  Napi::Value Destroyed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !group_); }

  std::shared_ptr<Group> group_;
  Settings settings_;
  std::string localAddress_;
  std::string device_;
};

Napi::FunctionReference* ProcessGroupWrap::constructor = nullptr;

Napi::Object NewProcessGroup(Napi::Env env, std::shared_ptr<Group> group) {
  return ProcessGroupWrap::constructor->New({Napi::External<std::shared_ptr<Group>>::New(env, &group)});
}

}  // namespace

void RegisterDistributed(Napi::Env env, Napi::Object exports) {
  exports.Set("ProcessGroup", ProcessGroupWrap::Init(env));
  exports.Set("processGroupCreate", Napi::Function::New(env, ProcessGroupCreate, "processGroupCreate"));
}

}  // namespace stemscope

#else  // no gloo headers at build time

namespace stemscope {

void RegisterDistributed(Napi::Env env, Napi::Object exports) {
  exports.Set("processGroupCreate", Napi::Function::New(
                                        env,
                                        [](const Napi::CallbackInfo& info) -> Napi::Value {
                                          throw Napi::Error::New(
                                              info.Env(),
                                              "processGroupCreate: the addon was built without gloo's headers, "
                                              "so distributed training is unavailable (Debian: apt-get install "
                                              "libgloo-dev, then rebuild)");
                                        },
                                        "processGroupCreate"));
}

}  // namespace stemscope

#endif
