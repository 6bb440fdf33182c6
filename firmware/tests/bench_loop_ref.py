#!/usr/bin/env python3
# Reference model of tests/bench_loop.c: prints the values the firmware checks.
#   python3 tests/bench_loop_ref.py CRC_PASSES SORT_N COPIES [CRC_BYTES COPY_LEN]
# mps2-an385: 512 2048 64 (65536 1048576, the defaults); lm3s6965evb: 4096 2048 4096 8192 16384
import zlib, struct
M=0xffffffff
x=0x12345678
def lcg():
    global x
    x=(x*1664525+1013904223)&M
    return x
argv=__import__('sys').argv
CRC_BYTES=int(argv[4]) if len(argv)>4 else 64*1024; CRC_PASSES=int(argv[1]); SORT_N=int(argv[2]); COPY_LEN=int(argv[5]) if len(argv)>5 else 1024*1024; COPIES=int(argv[3])
buf=b''.join(struct.pack('<I',lcg()) for _ in range(CRC_BYTES//4))
crc=0
for p in range(CRC_PASSES): crc=zlib.crc32(buf,crc)
print("crc 0x%08x"%crc)
a=[lcg() for _ in range(SORT_N)]
a.sort()
s=0
for i,v in enumerate(a): s=(s+v*(i+1))&M
print("sort 0x%08x"%s)
src=bytearray(b''.join(struct.pack('<I',lcg()) for _ in range((COPY_LEN+16)//4)))
dst=bytearray(COPY_LEN+16)
for k in range(COPIES):
    d=k&3; so=(k>>2)&3
    dst[d:d+COPY_LEN-4]=src[so:so+COPY_LEN-4]
    # feed back: flip one word of src so each copy differs
    i=(k*4099*4)%(COPY_LEN)
    v=struct.unpack_from('<I',src,i)[0]^0xA5A5A5A5^k
    struct.pack_into('<I',src,i,v)
c=zlib.crc32(bytes(dst))
print("copy 0x%08x"%c)
print("total 0x%08x"%((crc ^ s ^ c)&M))
