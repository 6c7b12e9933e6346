import Dispatch
import Foundation
import Synchronization
import Systemd

/// Starts child processes from one thread that lives as long as the process.
///
/// `PR_SET_PDEATHSIG` fires when the *thread* that forked a child ends, not the process; the
/// threads of Swift's concurrency pool may come and go, so every instance is forked from here.
final class Spawner: Sendable {
    static let shared = Spawner()

    private let jobs = Mutex<[@Sendable () -> Void]>([])
    private let pending = DispatchSemaphore(value: 0)

    private init() {
        let thread = Thread { [self] in
            while true {
                pending.wait()
                let job = jobs.withLock { $0.isEmpty ? nil : $0.removeFirst() }
                job?()
            }
        }
        thread.name = "stormlab-spawner"
        thread.start()
    }

    /// Spawns on the spawner thread; the calling task waits without blocking a thread.
    func spawn(_ options: SpawnOptions) async -> Result<Int32, SystemdError> {
        await withCheckedContinuation { continuation in
            jobs.withLock {
                $0.append {
                    continuation.resume(returning: Result { () throws(SystemdError) in try ChildProcess.spawn(options) })
                }
            }
            pending.signal()
        }
    }
}

/// Copies what instances write to their stdout and stderr (one pipe each) into their log files,
/// every line prefixed with the wall-clock time, on a thread of its own.
final class LogPump: Sendable {
    private struct Sink {
        var log: Int32
        var partial: [UInt8] = []
    }

    private let sinks = Mutex<[Int32: Sink]>([:])
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let stopped = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)

    init() {
        var fds: [Int32] = [-1, -1]
        _ = makePipe(&fds)
        for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        wakeRead = fds[0]
        wakeWrite = fds[1]
        let thread = Thread { [self] in loop() }
        thread.name = "stormlab-logs"
        thread.start()
    }

    /// Takes over `readFD` (a pipe's read end); its lines go to `log`, which is duplicated, so the
    /// caller may close its own descriptor at any time.
    func add(pipe readFD: Int32, log: Int32) {
        let flags = fcntl(readFD, F_GETFL)
        _ = fcntl(readFD, F_SETFL, flags | O_NONBLOCK)
        let copy = fcntl(log, F_DUPFD_CLOEXEC, 3)
        sinks.withLock { $0[readFD] = Sink(log: copy) }
        wake()
    }

    /// Whether every pipe has reached end of file.
    var isDrained: Bool { sinks.withLock { $0.isEmpty } }

    /// Stops the thread; pipes still open are flushed and closed. Call once.
    func stop() {
        stopped.store(true, ordering: .sequentiallyConsistent)
        wake()
        finished.wait()
        close(wakeRead)
        close(wakeWrite)
    }

    private func wake() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    private func loop() {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !stopped.load(ordering: .sequentiallyConsistent) {
            let watched = sinks.withLock { Array($0.keys) }
            var fds = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
                + watched.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let count = poll(&fds, nfds_t(fds.count), 1000)
            guard count > 0 else { continue }
            if fds[0].revents != 0 {
                while read(wakeRead, &buffer, buffer.count) > 0 {}
            }
            for entry in fds.dropFirst() where entry.revents != 0 {
                pump(entry.fd, buffer: &buffer)
            }
        }
        for fd in sinks.withLock({ Array($0.keys) }) { pump(fd, buffer: &buffer, closing: true) }
        finished.signal()
    }

    /// Reads what is there; at end of file (or `closing`) flushes the partial line and closes.
    private func pump(_ fd: Int32, buffer: inout [UInt8], closing: Bool = false) {
        var ended = false
        var chunks: [[UInt8]] = []
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count > 0 {
                chunks.append(Array(buffer[0..<count]))
                continue
            }
            if count < 0 && errno == EINTR { continue }
            ended = count == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)
            break
        }
        let finishing = ended || closing
        sinks.withLock { sinks in
            guard var sink = sinks[fd] else { return }
            for chunk in chunks { sink.partial += chunk }
            var text: [UInt8] = []
            let stamp = Array("\(Timestamp.now()) ".utf8)
            while let newline = sink.partial.firstIndex(of: UInt8(ascii: "\n")) {
                text += stamp + sink.partial[...newline]
                sink.partial.removeSubrange(...newline)
            }
            if finishing && !sink.partial.isEmpty || sink.partial.count > 65536 {
                text += stamp + sink.partial + [UInt8(ascii: "\n")]
                sink.partial = []
            }
            if !text.isEmpty { _ = text.withUnsafeBytes { write(sink.log, $0.baseAddress, $0.count) } }
            if finishing {
                close(sink.log)
                close(fd)
                sinks[fd] = nil
            } else {
                sinks[fd] = sink
            }
        }
    }
}

/// Waits without being cut short by task cancellation: teardown must keep its time allowances
/// even when the task that runs it was cancelled (Ctrl-C).
func pause(_ duration: Duration) async {
    let nanoseconds = duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(nanoseconds))) { continuation.resume() }
    }
}

/// A pipe with both ends close-on-exec (children get only the fds `csd_spawn` passes anyway).
func makePipe(_ fds: inout [Int32]) -> Bool {
    guard pipe(&fds) == 0 else { return false }
    for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    return true
}
