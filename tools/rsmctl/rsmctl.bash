# bash completion for rsmctl(1)
# shellcheck shell=bash

__rsmctl_sessions() {
    rsmctl --no-legend --no-ask-password list 2>/dev/null | { while read -r id _; do echo "$id"; done; }
}

_rsmctl() {
    local cur prev words cword
    _init_completion 2>/dev/null || {
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD-1]}
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
    }

    local verbs='list status show terminate disconnect terminate-user reload'
    local opts='-h --help --version --json -p --property --value -a --all --no-legend --no-ask-password'
    local props='Id UID User State Type Display Width Height Depth Desktop Unit LogindSession Leader
                 Timestamp ConnectedTimestamp DisconnectedTimestamp RemoteHost ClientName IdleHint
                 NSessions Version'

    case $prev in
        -p|--property)
            mapfile -t COMPREPLY < <(compgen -W "$props" -- "$cur")
            return 0
            ;;
    esac

    if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
        return 0
    fi

    # The verb: the first word that is not an option (or an option's value).
    local i verb=
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            -p|--property) ((i++)) ;;
            -*) ;;
            *) verb=${words[i]}; break ;;
        esac
    done

    case $verb in
        '')
            mapfile -t COMPREPLY < <(compgen -W "$verbs" -- "$cur") ;;
        status|show|terminate|disconnect)
            mapfile -t COMPREPLY < <(compgen -W "$(__rsmctl_sessions)" -- "$cur") ;;
        terminate-user)
            mapfile -t COMPREPLY < <(compgen -u -- "$cur") ;;
        *)
            COMPREPLY=() ;;
    esac
    return 0
}

complete -F _rsmctl rsmctl
