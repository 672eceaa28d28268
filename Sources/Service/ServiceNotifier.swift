import Glibc
import Synchronization

/// The systemd notify protocol (sd_notify(3)) without libsystemd: datagrams
/// of `KEY=value` lines sent to the Unix socket that `$NOTIFY_SOCKET` names
/// (a path, or an abstract name written with a leading '@'). The worker says
/// READY=1 once it streams, STATUS= lines with its lag, WATCHDOG=1 at half
/// of `$WATCHDOG_USEC` (when `$WATCHDOG_PID`, if set, is this process) and
/// STOPPING=1 when it begins to shut down.
///
/// Sending never stops the worker: a datagram the service manager does not
/// take (it went away, its queue is full) is dropped, as sd_notify's callers
/// usually ignore its result.
public final class ServiceNotifier: Sendable {
    private let socket: Int32
    private let address: [UInt8]
    /// Seconds between two WATCHDOG=1; nil when systemd runs no watchdog for us.
    public let watchdogInterval: Double?
    /// When the next WATCHDOG=1 is due (monotonic seconds, as a bit pattern).
    private let watchdogDue = Atomic<UInt64>(0)

    /// The notifier `environment` asks for; nil when `NOTIFY_SOCKET` is unset
    /// (not started by systemd with Type=notify). Throws when it is set but
    /// cannot be used.
    public init?(environment: [String: String], processID: Int32 = getpid()) throws(NotifySocketError) {
        guard let name = environment["NOTIFY_SOCKET"], !name.isEmpty else { return nil }
        var path = Array(name.utf8)
        guard path[0] == UInt8(ascii: "/") || path[0] == UInt8(ascii: "@") else {
            throw NotifySocketError("NOTIFY_SOCKET=\(name) is neither a path nor an abstract name ('@…')")
        }
        var address = sockaddr_un()
        guard path.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw NotifySocketError("NOTIFY_SOCKET=\(name) is longer than a Unix socket address may be")
        }
        if path[0] == UInt8(ascii: "@") { path[0] = 0 } else { path.append(0) }  // abstract: a leading NUL, no terminator
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path) }
        let length = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + path.count
        self.address = withUnsafeBytes(of: &address) { Array($0.prefix(length)) }
        socket = Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard socket >= 0 else { throw NotifySocketError("cannot open a socket for NOTIFY_SOCKET: \(String(cString: strerror(errno)))") }
        let forUs = environment["WATCHDOG_PID"].map { Int32($0) == processID } ?? true
        watchdogInterval = environment["WATCHDOG_USEC"].flatMap(UInt64.init).flatMap { $0 > 0 && forUs ? Double($0) / 2_000_000 : nil }
    }

    deinit {
        close(socket)
    }

    /// READY=1, with a STATUS line.
    public func ready(status: String) {
        send("READY=1\nSTATUS=" + Self.oneLine(status))
    }

    /// A STATUS line (`systemctl status` shows it).
    public func status(_ text: String) {
        send("STATUS=" + Self.oneLine(text))
    }

    /// STOPPING=1: the service begins to shut down.
    public func stopping() {
        send("STOPPING=1\nSTATUS=stopping: storing and confirming what was read")
    }

    /// WATCHDOG=1 if half the watchdog's timeout has passed since the last
    /// one. Called from the loops that must prove they are not stuck, as
    /// often as they like (one atomic load when nothing is due).
    public func pingWatchdogIfDue(now: Double) {
        guard let watchdogInterval, now >= Double(bitPattern: watchdogDue.load(ordering: .relaxed)) else { return }
        watchdogDue.store((now + watchdogInterval).bitPattern, ordering: .relaxed)
        send("WATCHDOG=1")
    }

    private func send(_ message: String) {
        let bytes = Array(message.utf8)
        _ = address.withUnsafeBytes { address in
            address.withMemoryRebound(to: sockaddr.self) { target in
                sendto(socket, bytes, bytes.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT), target.baseAddress, socklen_t(address.count))
            }
        }
    }

    /// A STATUS value is one line: the protocol separates assignments by newlines.
    private static func oneLine(_ text: String) -> String {
        String(text.map { $0.isNewline ? " " : $0 })
    }
}

/// `NOTIFY_SOCKET` is set but unusable.
public struct NotifySocketError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
