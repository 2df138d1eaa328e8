#!/bin/bash
# compare.sh A B: the files whose hashes differ between two runs of outputs.sh (only the commands
# B ran), as "file hash-in-A hash-in-B"; MISSING where one side lacks the file.
A=$1; B=$2
join -j 2 <(awk '{print $1, $2}' $A/hashes.txt | sort -k2) <(awk '{print $1, $2}' $B/hashes.txt | sort -k2) -a1 -a2 -o 0,1.1,2.1 -e MISSING | awk '$2!=$3' | while read f a b; do top=$(echo $f | cut -d/ -f2); [ -d $B/$top ] && echo "$f $a $b"; done
