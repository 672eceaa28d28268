import Foundation

/// The operating-system user the server runs as: this process's user, or
/// `postgres` via `runuser` when this process is root.
struct ServerUser: Sendable {
    /// Set when running as root: the user and group to hand files to.
    let switchTo: (name: String, uid: uid_t, gid: gid_t)?

    static func forCurrentProcess() throws -> ServerUser {
        guard geteuid() == 0 else { return ServerUser(switchTo: nil) }
        guard let entry = getpwnam("postgres") else {
            throw ClusterError("running as root, but there is no 'postgres' system user to run the server as. "
                + "Install the server package (apt-get install -y postgresql-15), which creates it, or run as a non-root user")
        }
        return ServerUser(switchTo: ("postgres", entry.pointee.pw_uid, entry.pointee.pw_gid))
    }

    func takeOwnership(of path: String) throws {
        guard let user = switchTo else { return }
        guard chown(path, user.uid, user.gid) == 0 else {
            throw ClusterError("could not give \(path) to \(user.name): \(String(cString: strerror(errno)))")
        }
    }

    /// The command line that runs `arguments` as this user.
    func commandLine(_ arguments: [String]) -> [String] {
        guard let user = switchTo else { return arguments }
        return ["/usr/sbin/runuser", "-u", user.name, "--"] + arguments
    }

    /// Runs a command to completion with its output in `log`; a non-zero exit
    /// throws with the log's tail.
    func run(_ arguments: [String], log: String) throws {
        let (status, stdout, stderr) = try ChildProcess.run(commandLine(arguments))
        let output = String(decoding: stdout + stderr, as: UTF8.self)
        try? output.write(toFile: log, atomically: false, encoding: .utf8)
        guard status == 0 else {
            let tail = output.split(separator: "\n").suffix(15).joined(separator: "\n")
            throw ClusterError("\(URL(fileURLWithPath: arguments[0]).lastPathComponent) failed (exit \(status)):\n\(tail)")
        }
    }
}
