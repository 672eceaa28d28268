import Foundation
import Glibc

/// Serves Prometheus scrapes: `GET /metrics` answers what `render` returns,
/// in the text exposition format 0.0.4. Any other path is 404, any other
/// method 405; one request per connection (`Connection: close`).
///
/// A minimal HTTP/1.1 server on one thread of its own, one connection at a
/// time, written here rather than taken from SwiftNIO (in the package
/// mirror, but minutes of build time and an event loop for what is one
/// small request every 15 s or so). Scrapes never touch the capture
/// threads: `render` reads atomics. A client that sends nothing for 5 s is
/// dropped, so it cannot hold the next scrape up for longer.
public final class MetricsEndpoint: Sendable {
    /// The address it listens on, `host:port` (the port chosen when 0 was asked).
    public let boundAddress: String
    private let listener: Int32

    /// Listens on `address` (`host:port`, `[v6 address]:port`, or `:port`
    /// for every interface) and serves scrapes on a thread until the process ends.
    public init(address: String, render: @escaping @Sendable () -> [UInt8]) throws(MetricsEndpointError) {
        let (host, port) = try Self.split(address)
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>?
        let lookup = getaddrinfo(host.isEmpty ? nil : host, port, &hints, &found)
        guard lookup == 0, let first = found else {
            throw MetricsEndpointError("cannot resolve \(address): \(String(cString: gai_strerror(lookup)))")
        }
        defer { freeaddrinfo(found) }
        var failure = "no address"
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        var bound: Int32 = -1
        while let info = candidate, bound < 0 {
            candidate = info.pointee.ai_next
            let socket = Glibc.socket(info.pointee.ai_family, info.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), info.pointee.ai_protocol)
            guard socket >= 0 else { failure = String(cString: strerror(errno)); continue }
            var on: Int32 = 1
            setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
            if bind(socket, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 && listen(socket, 16) == 0 {
                bound = socket
            } else {
                failure = String(cString: strerror(errno))
                close(socket)
            }
        }
        guard bound >= 0 else { throw MetricsEndpointError("cannot listen on \(address): \(failure)") }
        listener = bound
        boundAddress = Self.localAddress(of: bound) ?? address
        let thread = Thread { [listener] in Self.serve(listener, render: render) }
        thread.name = "walaudit-metrics"
        thread.start()
    }

    /// `host:port` into its parts; brackets around an IPv6 address are dropped.
    public static func split(_ address: String) throws(MetricsEndpointError) -> (host: String, port: String) {
        guard let colon = address.lastIndex(of: ":"), let port = UInt16(address[address.index(after: colon)...]) else {
            throw MetricsEndpointError("--metrics-address must be HOST:PORT (e.g. 127.0.0.1:9187), not \(address)")
        }
        var host = address[..<colon]
        if host.hasPrefix("[") && host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        return (String(host), String(port))
    }

    private static func localAddress(of socket: Int32) -> String? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        var port = [CChar](repeating: 0, count: Int(NI_MAXSERV))
        let named = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                getsockname(socket, address, &length) == 0
                    && getnameinfo(address, length, &host, socklen_t(host.count), &port, socklen_t(port.count),
                                   NI_NUMERICHOST | NI_NUMERICSERV) == 0
            }
        }
        guard named else { return nil }
        func text(_ characters: [CChar]) -> String {
            String(decoding: characters.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        let hostText = text(host)
        return (hostText.contains(":") ? "[\(hostText)]" : hostText) + ":" + text(port)
    }

    private static func serve(_ listener: Int32, render: @Sendable () -> [UInt8]) {
        while true {
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else {
                if errno != EINTR && errno != ECONNABORTED { Thread.sleep(forTimeInterval: 0.1) }  // e.g. out of descriptors
                continue
            }
            _ = fcntl(connection, F_SETFD, FD_CLOEXEC)
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(connection, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            if let head = readRequestHead(connection) {
                sendAll(connection, respond(to: head, render: render))
            }
            close(connection)
        }
    }

    /// The request line and headers, up to the empty line; nil when the
    /// client sends more than 8 KiB of them, stops, or is silent for 5 s.
    private static func readRequestHead(_ connection: Int32) -> [UInt8]? {
        var head: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 2048)
        while head.count <= 8192 {
            let count = recv(connection, &buffer, buffer.count, 0)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return nil }
            head += buffer[..<count]
            if head.count >= 4 && head.firstRange(of: [13, 10, 13, 10]) != nil { return head }
        }
        return nil
    }

    /// The whole response to a request whose head is `head`.
    static func respond(to head: [UInt8], render: () -> [UInt8]) -> [UInt8] {
        let requestLine = head.prefix { $0 != 13 && $0 != 10 }.split(separator: UInt8(ascii: " ")).map { String(decoding: $0, as: UTF8.self) }
        guard requestLine.count == 3, requestLine[2].hasPrefix("HTTP/1.") else {
            return response("400 Bad Request", body: Array("bad request\n".utf8))
        }
        let (method, path) = (requestLine[0], requestLine[1].prefix { $0 != "?" })
        guard path == "/metrics" else { return response("404 Not Found", body: Array("walaudit serves /metrics only\n".utf8)) }
        guard method == "GET" || method == "HEAD" else {
            return response("405 Method Not Allowed", extraHeaders: "Allow: GET, HEAD\r\n", body: Array("GET /metrics\n".utf8))
        }
        let body = render()
        return response("200 OK", contentType: "text/plain; version=0.0.4; charset=utf-8", body: body, withBody: method == "GET")
    }

    private static func response(_ status: String, contentType: String = "text/plain; charset=utf-8", extraHeaders: String = "",
                                 body: [UInt8], withBody: Bool = true) -> [UInt8] {
        let head = "HTTP/1.1 \(status)\r\nContent-Type: \(contentType)\r\nContent-Length: \(body.count)\r\n\(extraHeaders)Connection: close\r\n\r\n"
        return Array(head.utf8) + (withBody ? body : [])
    }

    private static func sendAll(_ connection: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent < 0 && errno == EINTR { continue }
            guard sent > 0 else { return }
            offset += sent
        }
    }
}

/// The metrics endpoint cannot listen where it was asked to.
public struct MetricsEndpointError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
