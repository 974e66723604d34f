/// The resolver the name service's rigs use for names outside the overlay (the agent's
/// `--dns-upstream`): a Python script to run in a host namespace with the port as its argument,
/// listening on 127.0.0.1. Used by the names tests and by `agent-bench names`.
public enum StubResolver {
    /// `outside.test` is 192.0.2.53, every other name NXDOMAIN.
    public static let script = """
    import socket, sys
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", int(sys.argv[1])))
    while True:
        q, a = s.recvfrom(2048)
        if len(q) < 12: continue
        i, labels = 12, []
        while i < len(q) and q[i] != 0:
            labels.append(q[i + 1:i + 1 + q[i]].decode("latin-1")); i += 1 + q[i]
        end = i + 5
        name, qtype = ".".join(labels).lower(), q[i + 1:i + 3]
        if name == "outside.test" and qtype == b"\\x00\\x01":
            r = q[:2] + b"\\x81\\x80\\x00\\x01\\x00\\x01\\x00\\x00\\x00\\x00" + q[12:end] + b"\\xc0\\x0c\\x00\\x01\\x00\\x01\\x00\\x00\\x00\\x3c\\x00\\x04\\xc0\\x00\\x02\\x35"
        else:
            r = q[:2] + b"\\x81\\x83" + q[4:6] + b"\\x00\\x00\\x00\\x00\\x00\\x00" + q[12:end]
        s.sendto(r, a)
    """

}
