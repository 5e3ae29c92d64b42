#!/usr/bin/env bash
# tests/layering/check_layers.sh - check core/'s includes against core/LAYERS.
#
# core/LAYERS gives every core/ file stem a layer (1 base, 2 data
# structures, 3 runtime proper, 4 features; see its header) plus optional
# rules: forbid <stem> <stem>, feature-free <stem>, allow <file> <header>.
# For every core/*.c and core/*.h, each include of a core/ header
# ("x.h", or <x.h> when core/x.h exists: -I core makes both reach it) must
# name a header of the same layer or a lower one, not be forbidden, and not
# be of layer 4 or above in a feature-free file - unless an allow line
# excuses that very include. Includes with a '/' ("troupe/x.h", the public
# declarations) and of files outside core/ are not checked.
#
# The table must match the directory: a core/*.c or *.h without a row, a
# row without a file, a rule naming a stem without a row, and an allow line
# that excuses nothing all fail. The file list is read at run time, so
# nothing here (nor in CMake) names today's files: core/LAYERS is the only
# list.
#
# Output: one line per violation,
#   core/a.c (layer 3) includes b.h (layer 4)
# (with the other rules it breaks appended after a ';'), then exit 1; on
# success a one-line summary and exit 0. Exit 2 on a usage error. Needs
# only bash and a POSIX awk (Debian's mawk is fine); no build.
#
# Usage (by hand, from anywhere):
#   tests/layering/check_layers.sh [-v] [source-dir]
# source-dir defaults to the tree this script is in; -v also lists the
# includes excused by allow lines. ctest runs it as layering.core
# (ctest --preset release -L layering).
set -euo pipefail

verbose=0
if [[ ${1-} == -v ]]; then
	verbose=1
	shift
fi
if (($# > 1)); then
	echo "usage: $0 [-v] [source-dir]" >&2
	exit 2
fi
root=${1:-$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)}
core=$root/core
table=$core/LAYERS
if [[ ! -d $core || ! -f $table ]]; then
	echo "check_layers.sh: no $table (source-dir: $root)" >&2
	exit 2
fi

shopt -s nullglob
sources=("$core"/*.c "$core"/*.h)
if ((${#sources[@]} == 0)); then
	echo "check_layers.sh: no core/*.c or core/*.h under $root" >&2
	exit 2
fi

# The first input is the table, the rest are the sources; every source is
# also registered in BEGIN (from ARGV) so an empty file still counts.
exec awk -v verbose="$verbose" -v feature_layer=4 '
function base(p) { sub(/.*\//, "", p); return p }
function stem(f) { sub(/\.[^.]*$/, "", f); return f }
function problem(msg) { print msg; nproblems++ }
function where(n) { return "core/LAYERS:" n }
function malformed(msg) { problem(where(FNR) ": " msg ": \"" raw "\"") }

BEGIN {
	for (i = 2; i < ARGC; i++) {
		f = base(ARGV[i])
		isfile[f] = 1
		hasstem[stem(f)] = 1
		nfiles++
	}
	nproblems = 0; nchecked = 0; nexcused = 0; nrows = 0
}

# ---- the table
FILENAME == ARGV[1] {
	raw = $0
	sub(/\r$/, "", raw)
	line = raw
	sub(/#.*/, "", line)
	n = split(line, w, /[ \t]+/)
	# split on a leading blank gives an empty first field in some awks
	k = 0
	for (i = 1; i <= n; i++)
		if (w[i] != "")
			a[++k] = w[i]
	if (k == 0)
		next
	if (a[1] == "forbid") {
		if (k != 3 || a[2] ~ /\./ || a[3] ~ /\./) {
			malformed("expected: forbid <stem> <stem>")
			next
		}
		forbid[a[2], a[3]] = FNR
		rulestem[++nrules] = a[2]; ruleline[nrules] = FNR
		rulestem[++nrules] = a[3]; ruleline[nrules] = FNR
	} else if (a[1] == "feature-free") {
		if (k != 2 || a[2] ~ /\./) {
			malformed("expected: feature-free <stem>")
			next
		}
		featurefree[a[2]] = FNR
		rulestem[++nrules] = a[2]; ruleline[nrules] = FNR
	} else if (a[1] == "allow") {
		if (k != 3 || a[2] !~ /^[^\/]+\.[ch]$/ || a[3] !~ /^[^\/]+\.h$/) {
			malformed("expected: allow <file>.c|.h <header>.h")
			next
		}
		if ((a[2], a[3]) in allow) {
			malformed("duplicate allow line (first on line " allow[a[2], a[3]] ")")
			next
		}
		allow[a[2], a[3]] = FNR
		allowused[a[2], a[3]] = 0
	} else {
		if (k != 2 || a[1] !~ /^[A-Za-z0-9_-]+$/ || a[2] !~ /^[1-9][0-9]*$/) {
			malformed("expected: <stem> <layer> (a stem without .c/.h, a layer >= 1)")
			next
		}
		if (a[1] in layer) {
			malformed("second row for " a[1] " (first on line " layerline[a[1]] ")")
			next
		}
		layer[a[1]] = a[2] + 0
		layerline[a[1]] = FNR
		nrows++
	}
	next
}

# ---- the sources: collect includes of core/ files
/^[ \t]*#[ \t]*include[ \t]*["<]/ {
	s = $0
	sub(/^[ \t]*#[ \t]*include[ \t]*/, "", s)
	quoted = substr(s, 1, 1) == "\""
	s = substr(s, 2)
	e = index(s, quoted ? "\"" : ">")
	if (e == 0)
		next
	h = substr(s, 1, e - 1)
	# A path (troupe/x.h: public; anything else) is not a core/ include;
	# a name core/ does not have is a system or generated header.
	if (h ~ /\// || !(h in isfile))
		next
	f = base(FILENAME)
	if ((f, h) in seen)
		next
	seen[f, h] = 1
	inc[++ninc] = f SUBSEP h
	next
}

END {
	# Table against directory, both ways.
	for (f in isfile)
		if (!(stem(f) in layer))
			missing[f] = 1
	for (f in missing)
		problem("core/" f " has no row in core/LAYERS: add \"" stem(f) " <layer>\" (layers 1-4 are named at the top of core/LAYERS)")
	for (s in layer)
		if (!(s in hasstem))
			problem(where(layerline[s]) ": row \"" s " " layer[s] "\" has no core/" s ".c or core/" s ".h: delete or rename it")
	for (i = 1; i <= nrules; i++)
		if (!(rulestem[i] in layer))
			problem(where(ruleline[i]) ": rule names " rulestem[i] ", which has no row")

	for (i = 1; i <= ninc; i++) {
		split(inc[i], p, SUBSEP)
		f = p[1]; h = p[2]
		fs = stem(f); hs = stem(h)
		if (fs == hs || !(fs in layer) || !(hs in layer))
			continue
		nchecked++
		above = layer[hs] > layer[fs]
		why = ""
		if ((fs, hs) in forbid)
			why = why "; forbidden by \"forbid " fs " " hs "\" (" where(forbid[fs, hs]) ")"
		if ((fs in featurefree) && layer[hs] >= feature_layer)
			why = why "; " fs " is feature-free (" where(featurefree[fs]) ")"
		if (!above && why == "")
			continue
		msg = "core/" f " (layer " layer[fs] ") includes " h " (layer " layer[hs] ")"
		if ((f, h) in allow) {
			allowused[f, h] = 1
			nexcused++
			if (verbose)
				print "allowed: " msg why " [" where(allow[f, h]) "]"
			continue
		}
		problem(msg why)
	}
	for (k in allow)
		if (!allowused[k]) {
			split(k, p, SUBSEP)
			problem(where(allow[k]) ": \"allow " p[1] " " p[2] "\" excuses nothing (core/" p[1] " no longer includes " p[2] ", or the include is legal now): delete the line")
		}

	if (nproblems > 0) {
		print "layering: " nproblems " problem(s) in core/ against core/LAYERS (its header says how to edit it)"
		exit 1
	}
	printf "layering: ok, %d core/ files in %d rows, %d includes of core/ headers checked, %d excused by allow lines\n", nfiles, nrows, nchecked, nexcused
}
' "$table" "${sources[@]}"
