FROM python:3
RUN python3 <<EOF
print('hi')
EOF
RUN 3<<EOF cat /proc/self/fd/3
fd three
EOF
