FROM alpine
COPY ["file with space.txt", "/dst dir/"]
