import CProcess
import Foundation

/// A child process started with `posix_spawn` and reaped with `waitpid`.
///
/// Foundation's `Process` can miss a child's exit when waited on from a
/// Swift-concurrency thread (seen here: `waitUntilExit` hung on a zombie),
/// so walaudit spawns and waits for children itself.
public struct ChildProcess: Sendable {
    public let pid: pid_t

    /// Starts `arguments[0]` (an absolute path) with the given descriptors
    /// as stdin, stdout and stderr. Every other descriptor is closed in the
    /// child, so no pipe or socket of this process leaks into it.
    public static func spawn(_ arguments: [String], stdin: Int32, stdout: Int32, stderr: Int32) throws -> ChildProcess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdin, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)
        walaudit_spawn_close_from(&actions, 3)
        // The spawning thread may block signals (test runners' threads do);
        // the child must start with none blocked and default handlers, or
        // SIGTERM would never reach it.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGPIPE, SIGCHLD, SIGHUP] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, arguments[0], &actions, &attributes, argv, environ)
        guard status == 0 else {
            throw SpawnError(description: "cannot start \(arguments[0]): \(String(cString: strerror(status)))")
        }
        return ChildProcess(pid: pid)
    }

    /// Waits for the child to end; its exit status, or 128 + signal number.
    public func wait() -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let signal = status & 0x7F
        return signal == 0 ? (status >> 8) & 0xFF : 128 + signal
    }

    /// Sends `signal` to the child.
    public func send(_ signal: Int32) {
        kill(pid, signal)
    }

    /// Runs a command to completion with stdin from `input` and stdout and
    /// stderr collected through temporary files (no pipe can fill and block).
    public static func run(_ arguments: [String], input: [UInt8] = []) throws -> (status: Int32, stdout: [UInt8], stderr: [UInt8]) {
        let scratch = try TemporaryFiles()
        defer { scratch.remove() }
        let stdinFile = try scratch.file("in", contents: input)
        let stdoutFile = try scratch.file("out")
        let stderrFile = try scratch.file("err")
        let child = try spawn(arguments, stdin: stdinFile.descriptor, stdout: stdoutFile.descriptor, stderr: stderrFile.descriptor)
        let status = child.wait()
        return (status, try scratch.contents("out"), try scratch.contents("err"))
    }
}

/// A failure to start a child process.
public struct SpawnError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

/// A private temporary directory of small files for one child's I/O.
struct TemporaryFiles {
    let path: String

    init() throws {
        var template = Array("/tmp/walaudit-io-XXXXXX".utf8CString)
        guard let created = mkdtemp(&template) else {
            throw SpawnError(description: "cannot create a temporary directory: \(String(cString: strerror(errno)))")
        }
        path = String(cString: created)
    }

    /// An open descriptor on a new file holding `contents`, positioned at its start.
    func file(_ name: String, contents: [UInt8] = []) throws -> FileHandle {
        let filePath = path + "/" + name
        guard FileManager.default.createFile(atPath: filePath, contents: Data(contents)) else {
            throw SpawnError(description: "cannot create \(filePath)")
        }
        return try FileHandle(forUpdating: URL(fileURLWithPath: filePath))
    }

    func contents(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: path + "/" + name)))
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

extension FileHandle {
    var descriptor: Int32 { fileDescriptor }
}
