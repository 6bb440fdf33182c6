#!/usr/bin/env python3
# Reference model of tests/bench_loop.c: prints the values the firmware checks.
#   python3 tests/bench_loop_ref.py CRC_PASSES SORT_N COPIES   (currently 512 2048 64)
import zlib, struct
M=0xffffffff
x=0x12345678
def lcg():
    global x
    x=(x*1664525+1013904223)&M
    return x
CRC_BYTES=64*1024; CRC_PASSES=int(__import__('sys').argv[1]); SORT_N=int(__import__('sys').argv[2]); COPY_LEN=1024*1024; COPIES=int(__import__('sys').argv[3])
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
