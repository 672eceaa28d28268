import EmbeddedPostgres
import Foundation

/// A Prometheus scrape as the tests take it: an HTTP/1.1 GET over a plain
/// socket (no HTTP client library), and the text format read into samples.
public struct MetricsScrape {
    public let status: Int
    public let headers: String
    public let body: String

    /// GETs `path` from `address` (`host:port`, IPv4).
    public init(address: String, path: String = "/metrics", method: String = "GET") throws {
        let parts = address.split(separator: ":")
        guard parts.count == 2, let port = UInt16(parts[1]) else { throw HarnessError("not host:port: \(address)") }
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw HarnessError("socket: \(String(cString: strerror(errno)))") }
        defer { close(socket) }
        var target = sockaddr_in()
        target.sin_family = sa_family_t(AF_INET)
        target.sin_port = port.bigEndian
        inet_pton(AF_INET, String(parts[0]), &target.sin_addr)
        let connected = withUnsafePointer(to: &target) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw HarnessError("cannot connect to \(address): \(String(cString: strerror(errno)))") }
        let request = Array("\(method) \(path) HTTP/1.1\r\nHost: \(address)\r\nAccept: text/plain\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = recv(socket, &buffer, buffer.count, 0)
            guard count > 0 else { break }
            response += buffer[..<count]
        }
        let text = String(decoding: response, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n"), let code = Int(text.split(separator: " ").dropFirst().first ?? "") else {
            throw HarnessError("not an HTTP response: \(text.prefix(200))")
        }
        status = code
        headers = String(text[..<split.lowerBound])
        body = String(text[split.upperBound...])
    }

    /// The body as Prometheus text.
    public var metrics: PrometheusText { PrometheusText(body) }

    /// The value of the series `name{labels}` (labels exactly as written), if present.
    public func value(_ name: String, _ labels: String = "") -> Double? { metrics.value(name, labels) }

    public var families: Set<String> { metrics.families }
}

/// Text in the Prometheus exposition format, read as the tests need it.
public struct PrometheusText {
    public let text: String

    public init(_ text: String) { self.text = text }

    /// Each sample line: name, labels (as written between the braces), value.
    public var samples: [(name: String, labels: String, value: Double)] {
        text.split(separator: "\n").compactMap { line in
            guard !line.hasPrefix("#"), let space = line.lastIndex(of: " ") else { return nil }
            let series = line[..<space]
            let name = series.prefix { $0 != "{" }
            let labels = series.dropFirst(name.count).dropFirst().dropLast()
            return (String(name), String(labels), Double(line[line.index(after: space)...]) ?? .nan)
        }
    }

    /// The value of the series `name{labels}` (labels exactly as written), if present.
    public func value(_ name: String, _ labels: String = "") -> Double? {
        samples.first { $0.name == name && $0.labels == labels }?.value
    }

    /// The metric families the `# TYPE` lines declare.
    public var families: Set<String> {
        Set(text.split(separator: "\n").compactMap { line in
            line.hasPrefix("# TYPE ") ? String(line.split(separator: " ")[2]) : nil
        })
    }
}

/// promtool (Debian's prometheus package, which `scripts/bootstrap --tests` installs).
public enum Promtool {
    /// Runs `promtool arguments` with `input` on stdin; exit status and everything it printed.
    public static func run(_ arguments: [String], input: String = "") throws -> (status: Int32, output: String) {
        let result = try ChildProcess.run(["/usr/bin/env", "promtool"] + arguments, input: Array(input.utf8))
        let output = String(decoding: result.stdout, as: UTF8.self) + String(decoding: result.stderr, as: UTF8.self)
        if result.status == 127 { throw HarnessError("promtool is missing: scripts/bootstrap --tests installs it (Debian package prometheus)") }
        return (result.status, output)
    }
}
