# SigID. Node 24 comes from the `node` devDependency (see DESIGN.md), so the install keeps dev
# dependencies: `npm ci --omit=dev` would leave the image without the runtime the scripts pin.
FROM node:24-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci && npm cache clean --force
COPY . .
USER node
EXPOSE 3000
CMD ["node", "src/cli.ts", "serve"]
