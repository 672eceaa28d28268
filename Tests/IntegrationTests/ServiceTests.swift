import EmbeddedPostgres
import Foundation
import Service
import Testing
import TestSupport

/// `walaudit run` as a service: the systemd notify protocol, JSON log
/// lines, and the example units (docs/operations.md §3).
@Suite struct ServiceTests {
    static let units = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Examples/systemd").path

    /// A datagram socket bound where a service manager's would be: a path, or
    /// an abstract name (`@name`, as NOTIFY_SOCKET writes it).
    final class NotifyListener {
        let name: String
        let socket: Int32

        init(abstract: Bool = false) throws {
            let unique = "walaudit-notify-" + UUID().uuidString.prefix(8)
            name = abstract ? "@" + unique : NSTemporaryDirectory() + "/" + unique
            socket = Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            var path = Array(name.utf8)
            if abstract { path[0] = 0 } else { path.append(0) }
            withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path) }
            let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + path.count)
            let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) } }
            guard socket >= 0, bound == 0 else { throw HarnessError("cannot bind \(name): \(String(cString: strerror(errno)))") }
        }

        deinit {
            close(socket)
            if !name.hasPrefix("@") { unlink(name) }
        }

        /// The next datagram, or nil after `timeout` seconds.
        func receive(timeout: Double) -> String? {
            var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, Int32(timeout * 1000)) == 1 else { return nil }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = recv(socket, &buffer, buffer.count, 0)
            return count > 0 ? String(decoding: buffer[..<count], as: UTF8.self) : nil
        }

        /// Datagrams until one satisfies `done`; all of them, that one last.
        func receive(until done: (String) -> Bool, timeout: Double = 60) throws -> [String] {
            let deadline = Date().addingTimeInterval(timeout)
            var received: [String] = []
            while Date() < deadline {
                guard let message = receive(timeout: 0.2) else { continue }
                received.append(message)
                if done(message) { return received }
            }
            throw HarnessError("no such message within \(Int(timeout)) s; received: \(received)")
        }
    }

    @Test func systemdHearsReadyStatusWatchdogAndStopping() throws {
        let harness = try WalauditHarness.make()
        try harness.database.connection.execute("CREATE TABLE t (id integer PRIMARY KEY)")
        try harness.expectSuccess(["attach", "t"])
        let listener = try NotifyListener()
        let worker = try harness.startWorker([], environment: ["NOTIFY_SOCKET": listener.name, "WATCHDOG_USEC": "1000000"])

        // READY=1 once the worker streams: the slot is in use by then.
        let first = try listener.receive { $0.contains("READY=1") }
        #expect(first.last?.contains("STATUS=streaming from ") == true, "\(first)")
        let active = try harness.database.connection.execute(
            "SELECT active FROM pg_replication_slots WHERE slot_name = $1", [harness.slot]).scalar
        #expect(active == "t", "READY=1 before streaming")

        // STATUS lines with the lag, and WATCHDOG=1 every half second (WATCHDOG_USEC=1 s).
        let status = try listener.receive { $0.hasPrefix("STATUS=streaming: lag ") }
        #expect(status.last?.contains("events stored since start") == true)
        let started = Date()
        let pings = try listener.receive(until: { _ in Date().timeIntervalSince(started) > 2.2 }, timeout: 5)
            .filter { $0 == "WATCHDOG=1" }.count
        #expect((2...6).contains(pings), "\(pings) WATCHDOG=1 in 2.2 s, at half of 1 s")

        // A lost stream: STATUS=reconnecting, then READY=1 again.
        try harness.database.connection.execute(
            "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1", [harness.slot])
        let reconnecting = try listener.receive { $0.hasPrefix("STATUS=reconnecting: ") }
        #expect(reconnecting.last?.contains("retrying in 1 s") == true, "\(reconnecting)")
        _ = try listener.receive { $0.contains("READY=1") }

        // SIGTERM: STOPPING=1, then a clean exit.
        worker.child.send(SIGTERM)
        _ = try listener.receive { $0.hasPrefix("STOPPING=1") }
        #expect(worker.stop() == 0, "\(worker.log)")
    }

    @Test func notifierReachesAnAbstractSocketAndHonoursWatchdogPID() throws {
        let listener = try NotifyListener(abstract: true)
        let notifier = try #require(try ServiceNotifier(environment: ["NOTIFY_SOCKET": listener.name, "WATCHDOG_USEC": "3000000",
                                                                      "WATCHDOG_PID": String(getpid())]))
        #expect(notifier.watchdogInterval == 1.5)
        notifier.ready(status: "two\nlines")
        #expect(listener.receive(timeout: 5) == "READY=1\nSTATUS=two lines")
        notifier.pingWatchdogIfDue(now: 100)
        notifier.pingWatchdogIfDue(now: 101)  // not due: half of 3 s after the last
        notifier.pingWatchdogIfDue(now: 101.5)
        #expect(listener.receive(timeout: 5) == "WATCHDOG=1")
        #expect(listener.receive(timeout: 5) == "WATCHDOG=1")
        #expect(listener.receive(timeout: 0.3) == nil)
        notifier.stopping()
        #expect(listener.receive(timeout: 5)?.hasPrefix("STOPPING=1\n") == true)

        // A watchdog meant for another process, no NOTIFY_SOCKET, an unusable one.
        let other = try #require(try ServiceNotifier(environment: ["NOTIFY_SOCKET": listener.name, "WATCHDOG_USEC": "3000000",
                                                                   "WATCHDOG_PID": "1"]))
        #expect(other.watchdogInterval == nil)
        #expect(try ServiceNotifier(environment: [:]) == nil)
        #expect(throws: NotifySocketError.self) { try ServiceNotifier(environment: ["NOTIFY_SOCKET": "relative/path"]) }
    }

    /// Each line of `log` as a JSON object with exactly time, level, message, metadata.
    static func jsonLines(_ log: String) throws -> [[String: Any]] {
        try log.split(separator: "\n").map { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            guard let object, Set(object.keys) == ["time", "level", "message", "metadata"], object["metadata"] is [String: Any],
                  let time = object["time"] as? String, (try? Date(time, strategy: .iso8601.year().month().day().time(includingFractionalSeconds: true))) != nil
            else { throw HarnessError("not a walaudit JSON log line: \(line)") }
            return object
        }
    }

    @Test func jsonLogLinesParseAndHideThePassword() throws {
        // A source that refuses connections: the worker retries and says why.
        let unreachable = "postgresql://auditor:Sup3r-secret@127.0.0.1:1/shop"
        let worker = try WorkerProcess(arguments: ["run", "--source", unreachable, "--log-format", "json"])
        try worker.waitForLog("retrying")
        #expect(worker.stop() == 0)
        let lines = try Self.jsonLines(worker.log)
        let retry = try #require(lines.first { $0["message"] as? String == "capture interrupted; retrying" }, "\(worker.log)")
        #expect(retry["level"] as? String == "warning")
        #expect((retry["metadata"] as? [String: Any])?["retry_in_seconds"] as? String == "1.0")
        #expect(((retry["metadata"] as? [String: Any])?["error"] as? String)?.contains("127.0.0.1") == true)
        #expect(!worker.log.contains("Sup3r-secret"))

        // A failure that stops the worker is one more JSON line, not a plain one.
        let failed = try WalauditBinary.run(["run", "--source", unreachable, "--log-format", "json",
                                             "--checkpoint-dir", NSTemporaryDirectory(), "--signing-key", "/nonexistent/key"])
        #expect(failed.status == 2)
        let last = try #require(try Self.jsonLines(failed.stderr).last)
        #expect(last["level"] as? String == "critical")
        #expect((last["message"] as? String)?.contains("cannot read the signing key") == true, "\(failed.stderr)")
        #expect(!failed.stderr.contains("Sup3r-secret"))
    }

    @Test func metricsAddressIsCheckedBeforeAnythingRuns() throws {
        #expect(try WalauditBinary.run(["run", "--metrics-address", "9187"]).status == 64)
        #expect(try WalauditBinary.run(["run", "--metrics-address", "localhost:99999"]).status == 64)
        // An origin with no checkpoints to put it in would do nothing: refused.
        let origin = try WalauditBinary.run(["run", "--origin", "example.com/log"])
        #expect(origin.status == 64 && origin.stderr.contains("--origin names the signed tree checkpoints"), "\(origin.stderr)")
        // A port already taken: exit 2 with the reason, before connecting anywhere.
        let taken = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(taken) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                _ = bind(taken, $0, length)
                _ = listen(taken, 1)
                _ = getsockname(taken, $0, &length)
            }
        }
        let port = UInt16(bigEndian: address.sin_port)
        let result = try WalauditBinary.run(["run", "--source", "postgresql://127.0.0.1:1/shop", "--metrics-address", "127.0.0.1:\(port)"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("cannot serve metrics: cannot listen on 127.0.0.1:\(port): Address already in use"), "\(result.stderr)")
    }

    /// A unit file's settings by section, in order (continuation lines are not used in ours).
    static func settings(_ file: String) throws -> [String: [(key: String, value: String)]] {
        var sections: [String: [(key: String, value: String)]] = [:]
        var section = ""
        for line in try String(contentsOfFile: units + "/" + file, encoding: .utf8).split(separator: "\n") {
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.isEmpty || text.hasPrefix("#") { continue }
            if text.hasPrefix("[") { section = String(text.dropFirst().dropLast()); continue }
            guard let equals = text.firstIndex(of: "=") else { throw HarnessError("\(file): not key=value: \(text)") }
            sections[section, default: []].append((String(text[..<equals]), String(text[text.index(after: equals)...])))
        }
        return sections
    }

    /// The long options `walaudit <command> --help` lists.
    static func knownFlags(_ command: [String]) throws -> Set<String> {
        let help = String(decoding: try WalauditBinary.run(command + ["--help"]).stdout, as: UTF8.self)
        return Set(help.matches(of: /--[a-z][a-z0-9-]*/).map { String($0.0) })
    }

    @Test func systemdUnitsAreValid() throws {
        let worker = try Self.settings("walaudit.service")
        let service = Dictionary(worker["Service"] ?? [], uniquingKeysWith: { $1 })
        #expect(service["Type"] == "notify")
        #expect(service["NotifyAccess"] == "main")
        #expect(Int(service["WatchdogSec"] ?? "") ?? 0 >= 10)
        #expect(service["User"].map { !$0.isEmpty && $0 != "root" } == true)
        #expect(service["KillSignal"] == "SIGTERM")
        for (key, value) in [("ProtectSystem", "strict"), ("NoNewPrivileges", "yes"), ("PrivateTmp", "yes"), ("ProtectHome", "yes")] {
            #expect(service[key] == value, "\(key)")
        }
        // Nothing that cuts the connection to PostgreSQL (TCP or its Unix socket).
        #expect(Set((service["RestrictAddressFamilies"] ?? "").split(separator: " ")).isSuperset(of: ["AF_UNIX", "AF_INET", "AF_INET6"]))
        #expect(service["PrivateNetwork"] == nil && service["IPAddressDeny"] == nil)
        let run = (service["ExecStart"] ?? "").split(separator: " ").map(String.init)
        #expect(run.prefix(2) == ["/usr/local/bin/walaudit", "run"])
        let runFlags = try Self.knownFlags(["run"])
        for flag in run where flag.hasPrefix("--") { #expect(runFlags.contains(flag), "walaudit run has no \(flag)") }
        // The checkpoint directory is the one path it may write.
        let checkpoints = try #require(run.firstIndex(of: "--checkpoint-dir").map { run[$0 + 1] })
        #expect(service["ReadWritePaths"] == checkpoints)

        let retention = Dictionary(try Self.settings("walaudit-retention.service")["Service"] ?? [], uniquingKeysWith: { $1 })
        #expect(retention["Type"] == "oneshot")
        let apply = (retention["ExecStart"] ?? "").split(separator: " ").map(String.init)
        #expect(apply.prefix(3) == ["/usr/local/bin/walaudit", "retention", "apply"])
        let applyFlags = try Self.knownFlags(["retention", "apply"])
        for flag in apply where flag.hasPrefix("--") { #expect(applyFlags.contains(flag), "walaudit retention apply has no \(flag)") }
        let timer = Dictionary(try Self.settings("walaudit-retention.timer")["Timer"] ?? [], uniquingKeysWith: { $1 })
        #expect(timer["OnCalendar"] != nil && timer["Persistent"] == "true")

        // systemd's own check, where systemd is installed, of copies that run the built binary.
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze") else { return }
        let copies = NSTemporaryDirectory() + "/walaudit-units-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: copies, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: copies) }
        let names = ["walaudit.service", "walaudit-retention.service", "walaudit-retention.timer"]
        for name in names {
            let text = try String(contentsOfFile: Self.units + "/" + name, encoding: .utf8)
            try text.replacingOccurrences(of: "/usr/local/bin/walaudit", with: WalauditBinary.path)
                .write(toFile: copies + "/" + name, atomically: true, encoding: .utf8)
        }
        let verify = try ChildProcess.run(["/usr/bin/systemd-analyze", "verify", "--man=no"] + names.map { copies + "/" + $0 })
        let said = String(decoding: verify.stdout + verify.stderr, as: UTF8.self)
        #expect(verify.status == 0 && said.isEmpty, "systemd-analyze verify: \(said)")
    }
}
