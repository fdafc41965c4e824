#!/bin/sh
# Seeds the (uncommitted) fuzz corpora from ../testdata and a few hand-made codec inputs.
# Usage: cd fuzz && ./seed.sh
set -eu
cd "$(dirname "$0")"
for t in read_slice read_stream_equivalence verify verify_split roundtrip dump_equivalence; do
    mkdir -p "corpus/$t"
    # Small files only: libFuzzer's default -max_len follows the largest seed.
    find ../testdata -name '*.rdb' -size -32k | while read -r f; do
        cp "$f" "corpus/$t/$(echo "$f" | sed 's|^\.\./testdata/||; s|/|_|g')"
    done
done
# convert: a target-picking byte (0-10, an index into `Target::ALL`) before each file.
mkdir -p corpus/convert
i=0
find ../testdata -name '*.rdb' -size -32k | while read -r f; do
    name="$(echo "$f" | sed 's|^\.\./testdata/||; s|/|_|g')"
    { printf "\\$(printf '%03o' $((i % 11)))"; cat "$f"; } > "corpus/convert/$name"
    i=$((i + 1))
done
seed() { mkdir -p "corpus/$1"; printf "$3" > "corpus/$1/$2"; }
# codec_listpack / codec_stream_lp: mode byte 0 = raw blob.
seed codec_listpack lp3 '\000\017\000\000\000\003\000\201x\002\201y\002\007\001\377'
seed codec_listpack build '\002\001\002abc\004\005\000\007'
seed codec_ziplist zl2 '\000\017\000\000\000\014\000\000\000\002\000\000\000\363\002\366\377'
seed codec_ziplist build '\002\001\002abc\004\005\000\007'
seed codec_intset is3 '\000\002\000\000\000\003\000\000\000\373\377\001\000\054\001'
seed codec_intset build '\001\001\002\003\004\005\006\007'
seed codec_zipmap zm2 '\000\002\003foo\003\000bar\005hello\005\000world\377'
seed codec_zipmap build '\001\002\002ab\003\005\000\007'
seed codec_stream_lp node '\000\111\000\000\000\031\000\002\001\001\001\002\001\204name\005\203age\004\000\001\002\001\000\001\000\001\201a\002\001\001\005\001\003\001\000\001\001\001\201b\002\002\001\005\001\000\001\001\001\337\377\002\001\001\205other\006\201x\002\006\001\377'
seed codec_stream_lp build '\001\003\002ab\003\005\000\007\021\022'
seed codec_lzf lit '\001\000\000\004hello\340\000\004'
seed codec_lzf hdr '\000\010\000\002abc\140\002'
seed codec_length_string len '\200\000\001\000\000'
seed codec_length_string lzf '\303\005\012\001aa\340\000\000'
seed codec_length_string header 'REDIS0011'
# text_inputs: slot ranges, a topology, a manifest and a JSONL keyspace (committed seeds).
mkdir -p corpus/text_inputs
cp seeds/text_inputs/* corpus/text_inputs/
