import GrapevineTestSupport
import Foundation

/// One HTTP/1.1 POST over a Unix socket, in this process and on this thread, so that a timing
/// holds the call and nothing else (no CLI start-up): connect, send, read the answer whole
/// (`Content-Length`, else until the server closes). Returns the status and the body.
/// - Throws: `BenchError` when the socket cannot be reached, or the answer is cut or malformed.
func unixPost(_ socketPath: String, _ path: String, json body: String, timeout: Int = 30) throws -> (status: Int, body: String) {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw BenchError("socket: errno \(errno)") }
    defer { close(fd) }
    var limit = timeval(tv_sec: timeout, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let name = Array(socketPath.utf8)
    guard name.count < MemoryLayout.size(ofValue: address.sun_path) else { throw BenchError("socket path too long: \(socketPath)") }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        raw.copyBytes(from: name)
        raw[name.count] = 0
    }
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard connected == 0 else { throw BenchError("connect \(socketPath): errno \(errno)") }
    let payload = Array(body.utf8)
    let request = Array("POST \(path) HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: \(payload.count)\r\nConnection: close\r\n\r\n".utf8) + payload
    var sent = 0
    while sent < request.count {
        let n = request[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { throw BenchError("write to \(socketPath): errno \(errno)") }
        sent += n
    }
    var answer: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 16_384)
    var headerEnd: Int?
    var length: Int?
    while true {
        if let end = headerEnd, let length, answer.count >= end + length { break }
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n == 0 { break }
        guard n > 0 else { throw BenchError("read from \(socketPath): errno \(errno)") }
        answer += chunk[0..<n]
        if headerEnd == nil, let range = answer.firstRange(of: Array("\r\n\r\n".utf8)) {
            headerEnd = range.upperBound
            let head = String(decoding: answer[..<range.lowerBound], as: UTF8.self).lowercased()
            for line in head.split(separator: "\r\n") where line.hasPrefix("content-length:") {
                length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces))
            }
        }
    }
    guard let end = headerEnd else { throw BenchError("no HTTP answer from \(socketPath)\(path)") }
    let statusLine = String(decoding: answer[..<end], as: UTF8.self).split(separator: "\r\n").first ?? ""
    guard let status = statusLine.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else {
        throw BenchError("bad status line from \(socketPath)\(path): \(statusLine)")
    }
    let bodyBytes = answer[end...].prefix(length ?? answer.count)
    if let length, bodyBytes.count < length { throw BenchError("answer from \(socketPath)\(path) cut short") }
    return (status, String(decoding: bodyBytes, as: UTF8.self))
}
