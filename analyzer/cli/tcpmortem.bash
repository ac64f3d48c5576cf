# bash completion for tcpmortem(1)                                      -*- shell-script -*-
# Installed as share/bash-completion/completions/tcpmortem. Needs nothing from the
# bash-completion package; tests/e2e/check_cli.py checks it offers every option of the man page.

_tcpmortem_options="-f --format -o --output -r -i --interface -w -s --snaplen -c --count
	--duration --filter --flow --class --idle --close-wait --max-flows --expire --threads --color
	--progress --no-progress -h --help -V --version"
_tcpmortem_formats="text json ndjson csv markdown svg html zeek zeek-json"
_tcpmortem_classes="fin_graceful fin_simultaneous half_closed_at_end rst_unread_data rst_abort
	rst_after_close rst_peer_restarted rst_refused syn_unanswered keepalive_timeout
	peer_vanished open_at_end idle_at_end"

# Captures, compressed or not (and directories: to walk into, or to read whole), matching $1.
_tcpmortem_captures()
{
	local f
	local IFS=$'\n'

	for f in $(compgen -f -- "$1"); do
		if [[ -d $f ]]; then
			COMPREPLY+=("$f/")
		else
			case $f in
			*.pcap | *.pcapng | *.cap | *.pcap[0-9]* | *.dmp | \
			*.pcap.gz | *.pcapng.gz | *.pcap.zst | *.pcapng.zst | *.pcap.lz4 | \
			*.pcapng.lz4 | *.pcap.xz | *.pcapng.xz | *.pcap[0-9]*.gz | *.pcap[0-9]*.zst)
				COMPREPLY+=("$f") ;;
			esac
		fi
	done
}

_tcpmortem()
{
	local cur=${COMP_WORDS[COMP_CWORD]}
	local prev=${COMP_WORDS[COMP_CWORD - 1]}
	local IFS=$' \t\n'

	COMPREPLY=()
	# "--color=WHEN": readline splits the word at '=' (COMP_WORDBREAKS).
	if [[ $prev == = && ${COMP_WORDS[COMP_CWORD - 2]} == --color ]]; then
		COMPREPLY=($(compgen -W "auto always never" -- "$cur"))
		return
	fi
	if [[ $cur == = && $prev == --color ]]; then
		COMPREPLY=(auto always never)
		return
	fi
	if [[ $cur == --color=* ]]; then
		COMPREPLY=($(compgen -W "auto always never" -- "${cur#--color=}"))
		return
	fi

	if [[ ${COMP_WORDS[1]} == summarize && $COMP_CWORD -gt 1 ]]; then
		case $prev in
		-f | --format) COMPREPLY=($(compgen -W "text json" -- "$cur")); return ;;
		-o | --output) COMPREPLY=($(compgen -f -- "$cur")); return ;;
		esac
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "-f --format -o --output -h --help" -- "$cur"))
		else
			COMPREPLY=($(compgen -f -- "$cur"))
		fi
		return
	fi

	case $prev in
	-f | --format)
		COMPREPLY=($(compgen -W "$_tcpmortem_formats" -- "$cur"))
		return
		;;
	-o | --output | -w)
		COMPREPLY=($(compgen -f -- "$cur"))
		return
		;;
	-r)
		_tcpmortem_captures "$cur"
		return
		;;
	-i | --interface)
		# The interfaces the kernel knows, and "any".
		COMPREPLY=($(compgen -W "any $(ls /sys/class/net 2>/dev/null)" -- "$cur"))
		return
		;;
	--class)
		# A comma-separated list: complete its last name.
		local done=${cur%"${cur##*,}"}
		COMPREPLY=($(compgen -P "$done" -W "$_tcpmortem_classes" -- "${cur##*,}"))
		compopt -o nospace 2>/dev/null
		return
		;;
	--filter | --flow | --idle | --close-wait | --max-flows | --expire | --threads | \
		-s | --snaplen | -c | --count | --duration)
		return # free text: nothing to offer
		;;
	esac

	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$_tcpmortem_options" -- "$cur"))
		return
	fi
	if [[ $COMP_CWORD -eq 1 ]]; then
		COMPREPLY=($(compgen -W "summarize" -- "$cur"))
	fi
	_tcpmortem_captures "$cur"
}

complete -F _tcpmortem -o filenames tcpmortem
