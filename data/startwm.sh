#!/bin/sh
# rsm's default session program ([session] start_script in rsm.toml): run as
# the user inside the new session, with DISPLAY set (but see "null"), when the request names
# no desktop. Edit to taste; a user's own ~/.xsession wins.

# A session of display type "null" has no display and nothing to show (it
# exists for scale tests and benchmarks): keep it alive until it is ended.
if [ -z "$DISPLAY" ]; then
    exec sleep infinity
fi

# A seamless xpra session (display type "xpra") shows windows, not a
# desktop, and xpra is its window manager: start a terminal, and the
# session ends when it exits.
if [ "$RSM_DISPLAY_TYPE" = xpra ]; then
    exec xterm
fi

# The user's own session script, as display managers honour it.
if [ -x "$HOME/.xsession" ]; then
    exec "$HOME/.xsession"
fi

# Debian's system-wide X session (runs /etc/X11/Xsession.d, then the
# x-session-manager alternative or the user's ~/.xsession).
if [ -f /etc/X11/Xsession ]; then
    exec /bin/sh /etc/X11/Xsession
fi

# Last resort so that a session is usable at all: a terminal under a minimal
# window manager. The session ends when the window manager exits.
xterm &
exec twm
