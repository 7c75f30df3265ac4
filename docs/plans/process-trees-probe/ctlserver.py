import os, socket, threading, sys, mmap
path = sys.argv[1]
try: os.unlink(path)
except FileNotFoundError: pass
srv = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
srv.bind(path); srv.listen(64)
page = os.memfd_create("omni-control")
os.ftruncate(page, 4096)
log = open(sys.argv[2], "w", buffering=1)
def serve(c):
    cred = c.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
    import struct; pid, uid, gid = struct.unpack("3i", cred)
    hello = c.recv(128)
    log.write(f"conn peer pid={pid}: {hello.decode()}\n")
    socket.send_fds(c, [b"OK"], [page])
    while True:
        d = c.recv(128)
        if not d: break
    log.write(f"EOF from pid={pid}\n")
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
