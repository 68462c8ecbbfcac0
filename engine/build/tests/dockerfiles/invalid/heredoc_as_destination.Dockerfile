FROM alpine
COPY <<EOF <<DST
hi
EOF
there
DST
