import Foundation
import Synchronization

/// A child process that stops the server and deletes its directory as soon
/// as this process closes the pipe it waits on — explicitly, or implicitly
/// by exiting or dying.
final class Watchdog: Sendable {
    private let state: Mutex<(process: Process, writeEnd: FileHandle)?>

    init(cleaning directory: String, dataDirectory: String, pgCtl: String, as user: ServerUser) throws {
        let pipe = Pipe()
        // Only this process may hold the write end: a child (the postmaster
        // above all) inheriting it would keep the pipe open forever.
        for handle in [pipe.fileHandleForWriting, pipe.fileHandleForReading] {
            _ = fcntl(handle.fileDescriptor, F_SETFD, FD_CLOEXEC)
        }
        let script = "cat >/dev/null; \"$1\" -D \"$2\" -m immediate -w stop >/dev/null 2>&1; rm -rf \"$3\""
        let line = user.commandLine(["/bin/sh", "-c", script, "walaudit-watchdog", pgCtl, dataDirectory, directory])
        let process = Process()
        process.executableURL = URL(fileURLWithPath: line[0])
        process.arguments = Array(line.dropFirst())
        process.standardInput = pipe.fileHandleForReading
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        try pipe.fileHandleForReading.close()
        state = Mutex((process, pipe.fileHandleForWriting))
    }

    /// Closes the pipe and waits for the cleanup to finish; idempotent.
    func finish() {
        let taken = state.withLock { current -> (process: Process, writeEnd: FileHandle)? in
            defer { current = nil }
            return current
        }
        guard let (process, writeEnd) = taken else { return }
        try? writeEnd.close()
        process.waitUntilExit()
    }
}
