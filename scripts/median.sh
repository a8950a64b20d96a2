# Sourced (from the repository's root) by the speed scripts, not run on its own: defines
# `median`, the median of the numbers on standard input, one per line.
median() { sort -g | awk '{v[NR]=$1} END {if (NR % 2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }
