FROM alpine
COPY <<EOF /etc/motd
Welcome $USER
EOF
COPY --chmod=0755 <<"EOF" other.txt /usr/local/bin/
#!/bin/sh
echo hi
EOF
